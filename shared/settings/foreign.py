"""Names that the system and the libraries Outpost runs on read: an env file may set them, and
no warning says they are not Outpost's."""

from __future__ import annotations

# Each name, then each prefix, with what reads it.
NAMES = {
    "SSL_CERT_FILE": "OpenSSL: the PEM file of trusted certificates (SMTP, SMS, CAPTCHA, webhooks)",
    "SSL_CERT_DIR": "OpenSSL: a directory of trusted certificates",
    "TZ": "the C library: the processes' time zone (logs and rows are in UTC whatever it is)",
    "HTTP_PROXY": "httpx: the proxy of plain HTTP requests",
    "HTTPS_PROXY": "httpx: the proxy of HTTPS requests (SMS, CAPTCHA, webhooks)",
    "ALL_PROXY": "httpx: the proxy of every request",
    "NO_PROXY": "httpx: the hosts reached without a proxy",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client: where the API workers keep metrics",
    "NOTIFY_SOCKET": "systemd: where the relay says READY=1 and pets the watchdog",
    "GUNICORN_CMD_ARGS": "gunicorn: arguments added to the packaged configuration",
    "GUNICORN_PID": (
        "gunicorn: set for an arbiter a reload (SIGUSR2) started, the one it replaces; never set it"
    ),
    "FORWARDED_ALLOW_IPS": "gunicorn: the proxies whose forwarded scheme it believes",
    "LANG": "the C library: the locale",
    "PATH": "the shell: where commands are found",
    "HOME": "the shell: the user's home",
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "OpenTelemetry: where both processes export traces (OTLP/HTTP); unset, nothing of "
        "OpenTelemetry is loaded ([traces](observability.md#traces))"
    ),
    "OTEL_SERVICE_NAME": (
        "OpenTelemetry: the traces' service name, else `outpost-api` and `outbox-relay`"
    ),
}
PREFIXES = {
    "OTEL_": "OpenTelemetry: the SDK's standard variables (sampler, batching, exporter headers)",
    "PYTHON": "the Python interpreter (`PYTHONUNBUFFERED`, …)",
    "PG": "libpq, through psycopg: connection defaults (`PGPASSFILE`, `PGSSLROOTCERT`, …)",
    "LC_": "the C library: the locale's categories",
}


def foreign(name: str) -> bool:
    """Whether the system or a library reads `name` (proxies in any case, as httpx reads them)."""
    spelled = name.upper() if name.upper().endswith("_PROXY") else name
    return spelled in NAMES or spelled.startswith(tuple(PREFIXES))
