"""`outpost`: the embedded demo stack and migrations."""
