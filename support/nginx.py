"""The shipped nginx site (outpost/deploy/nginx/outpost.conf) run by Debian's nginx for the
tests: the same file, its ports, certificate and upstream pointed at the test's own, in a prefix
of its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from outpost.deploy_files import SHIPPED
from support import processes
from support.smtp_stages import SmtpCA

BINARY = Path("/usr/sbin/nginx")
SITE = SHIPPED / "nginx" / "outpost.conf"
# The site's access log, and the one Debian's nginx.conf keeps for what no site logs itself.
SITE_LOG, DEBIAN_LOG = "outpost.access.log", "debian.access.log"
# What the shipped site names on a real host, and what the tests put in its place.
REAL = {
    "listen 80;": "listen 127.0.0.1:{http};",
    "listen 443 ssl http2;": "listen 127.0.0.1:{https} ssl http2;",
    # The site's own log, under the prefix, and beside it the benchmarks' (LOG_FORMAT).
    "access_log /var/log/nginx/outpost.access.log outpost;": (
        f"access_log {{prefix}}/logs/{SITE_LOG} outpost; "
        "access_log {prefix}/logs/access.log timed;"
    ),
}
# The upstream's server: the shipped mark, or the OUTPOST_BIND `outpost deploy-files` wrote.
UPSTREAM = re.compile(r"(upstream outpost_api \{\s*server )[^;]+;")
# The certificate and its key, certbot's for the site's name (the shipped mark, or PUBLIC_URL's
# host): the test's in their place.
CERTIFICATES = re.compile(r"(ssl_certificate(?:_key)? )/etc/letsencrypt/live/[^/;]+/\w+\.pem;")
# The benchmarks' access log's fields, space-separated: when each request ended (epoch seconds),
# its status, the seconds nginx spent on it and those it waited for the API (queue included),
# its path.
LOG_FORMAT = "$msec $status $request_time $upstream_response_time $request_method $uri"


def available() -> bool:
    return BINARY.exists()


def configure(
    prefix: Path, *, http: int, https: int, api: int, ca: SmtpCA, site: Path = SITE
) -> Path:
    """The shipped site (or `site`, as `outpost deploy-files` wrote it) with the test's ports
    and certificate, in a minimal nginx.conf under `prefix`; the configuration file's path."""
    ca.leaf.private_key_and_cert_chain_pem.write_to_path(str(prefix / "server.pem"))
    text = site.read_text()
    for real, ours in REAL.items():
        assert real in text, f"{site} no longer names {real!r}"
        text = text.replace(real, ours.format(http=http, https=https, api=api, prefix=prefix))
    text, certificates = CERTIFICATES.subn(rf"\g<1>{prefix}/server.pem;", text)
    assert certificates == 2, f"{site} no longer names certbot's certificate and key"
    text, upstreams = UPSTREAM.subn(rf"\g<1>127.0.0.1:{api};", text)
    assert upstreams == 1, f"{site} no longer has one upstream outpost_api"
    (prefix / "outpost.conf").write_text(text)
    (prefix / "logs").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        # Workers as root: the test's prefix, under pytest's private temporary directory, is
        # not one `nobody` may enter (a request body larger than a buffer goes to a file there).
        "user root;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log;\n"
        # Debian's own nginx.conf: a worker a core; room for a load test's connections.
        "worker_processes auto;\n"
        "events { worker_connections 16384; }\n"
        "http {\n"
        f"    log_format timed '{LOG_FORMAT}';\n"
        # Debian's own nginx.conf too: every request in `combined`, query string included,
        # unless the site logs it itself.
        f"    access_log {prefix}/logs/{DEBIAN_LOG};\n"
        f"    client_body_temp_path {prefix}/body;\n"
        f"    proxy_temp_path {prefix}/proxy;\n"
        f"    include {prefix}/outpost.conf;\n"
        "}\n"
    )
    return conf


def check(conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the configuration."""
    return subprocess.run(
        [BINARY, "-t", "-c", str(conf), "-p", str(conf.parent)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def start(conf: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground, as a test's process."""
    return processes.start(
        [str(BINARY), "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off;"],
        {},
        conf.parent,
        conf.parent / "logs" / "nginx.out",
    )
