"""A process starts without the packages only some of its commands use: a run starts hundreds
of processes, each paying for what it imports (docs/decisions/0032-commands-load-what-they-use.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded where migrations are run, by `outpost up`, by a configured CAPTCHA_URL or
# SMS_REQUEST_TEMPLATE: never by importing a process's entry point, nor by the schema check a
# start makes.
EVERYWHERE_DEFERRED = ("alembic", "mako", "pygments", "aiosmtpd", "httpx", "rich")
# The relay's operator commands render no template (`outpost` checks and previews them).
RELAY_DEFERRED = ("jinja2",)

IMPORTS = """
import json, sys
loaded = lambda: sorted({name.partition(".")[0] for name in sys.modules})
import outbox_relay.cli
from shared.database.db import create_engine_for, schema_behind
schema_behind(create_engine_for("sqlite://"))
relay = loaded()
import api_service, outpost.cli
print(json.dumps({"relay": relay, "all": loaded()}))
"""


def test_entry_points_import_no_deferred_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(done.stdout)
    assert not set(RELAY_DEFERRED + EVERYWHERE_DEFERRED) & set(loaded["relay"])
    assert not set(EVERYWHERE_DEFERRED) & set(loaded["all"])


# A relay starts a render worker at its first render and after every one it kills: it renders
# templates, and loads no database driver nor the settings (0.80 s of CPU down to 0.10 s).
WORKER_DEFERRED = ("sqlalchemy", "psycopg", "shared.settings", "shared.database")

WORKER_IMPORTS = """
import json, sys
import outbox_relay.render_worker
print(json.dumps(sorted(sys.modules)))
"""


def test_the_render_worker_loads_the_templates_and_no_database() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert "jinja2" in loaded
    assert [name for name in loaded if name.startswith(WORKER_DEFERRED)] == []


# A relay delivering by SMTP, its SMS to the log, builds no HTTP client: httpx (and, where the
# tests' tools are installed, its command line's rich and pygments) loads with the first
# provider that speaks HTTP.
CHANNEL_IMPORTS = """
import json, sys
import outbox_relay.foreground
from outbox_relay.channels.factory import default_channels
from shared.settings.config import Settings
build = default_channels(Settings.from_env(json.loads(sys.argv[1])))
build("smtp"), build("sms")
by_smtp = "httpx" in sys.modules
build("webhook")
print(json.dumps([by_smtp, "httpx" in sys.modules]))
"""


def test_a_relay_by_smtp_builds_no_http_client(env: dict[str, str]) -> None:
    hooked = {
        **env,
        "WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "WEBHOOK_SECRET": "whsec_" + "d2VidGVzdC1zZWNyZXQtMTIzNDU2",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHANNEL_IMPORTS, json.dumps(hooked)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == [False, True]
