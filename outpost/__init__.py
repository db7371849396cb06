"""`outpost`: the embedded demo stack and migrations."""

# Set by `outpost up` for the API it runs (outpost/demo.py): where the catcher writes, and the
# host it binds. Here, so that the launcher names them without loading the API.
MAIL_DIR_VARIABLE = "OUTPOST_DEMO_MAIL_DIR"
HOST_VARIABLE = "OUTPOST_DEMO_HOST"
