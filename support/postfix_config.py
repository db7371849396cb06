"""The configuration of the tests' private Postfix: main.cf, master.cf with a service per
scenario, its lookup tables, and Cyrus SASL's password database."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path

SASLPASSWD = Path("/usr/sbin/saslpasswd2")
# Postfix's unprivileged user: its daemons read the SASL database and own the mailboxes.
OWNER = "postfix"
HOSTNAME = "mx.postfix.test"
# Mail to this domain goes to one maildir, each mail marked `Delivered-To:` its user; users whose
# name starts with UNKNOWN are not in the table, and Postfix refuses them `550 5.1.1`.
DOMAIN = "postfix.test"
# The same maildir for a domain the API accepts (it refuses special-use ones such as *.test), for
# mail that starts as a registration.
API_DOMAIN = "postfix.example.com"
UNKNOWN = "unknown"
# Mail to this domain is accepted and thrown away (the `discard` transport), for benchmarks.
DISCARD_DOMAIN = "discard.postfix.test"
LOGIN = ("outpost", "postfix-test-password")
# Below any mail Outpost composes.
MESSAGE_SIZE_LIMIT = 1024
MESSAGE_RATE_LIMIT = 5
# anvil's window for the message rate limit: short, so a rate-limited scenario takes seconds.
RATE_TIME_UNIT = 2
CONNECTION_LIMIT = 2
# New connections a client may open in anvil's window (RATE_TIME_UNIT): fewer than the 3
# sessions every relay opens in its slow start (outbox_relay/session_count.py: the first
# session's first message earns a second, and the first send over a session that sent before
# sets the quickest and the typical time alike, so earns a third), so that anvil refuses some
# whatever the relay keeps. With 3, a relay whose slow start ended at 3 (a loaded machine's
# sends vary) was never refused.
CONNECTION_RATE_LIMIT = 2
# The `idle` scenario's smtpd_timeout, in seconds.
IDLE_TIMEOUT = 3

# The smtpd services, each a scenario: its `-o` overrides of main.cf.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "starttls_auth": (
        "smtpd_sasl_auth_enable=yes",
        # AUTH is offered in clear too: a client that sent credentials before STARTTLS would
        # be seen doing it in the log.
        "smtpd_tls_auth_only=no",
        "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
    ),
    "greylist": ("smtpd_recipient_restrictions=check_recipient_access,texthash:{conf}/greylist",),
    # A real greylister: postgrey on the instance's policy port (support/postgrey.py).
    "postgrey": ("smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:{policy}",),
    "anvil": (
        f"smtpd_client_message_rate_limit={MESSAGE_RATE_LIMIT}",
        "smtpd_client_event_limit_exceptions=",
    ),
    "conncap": (
        f"smtpd_client_connection_count_limit={CONNECTION_LIMIT}",
        "smtpd_client_event_limit_exceptions=",
    ),
    "connrate": (
        f"smtpd_client_connection_rate_limit={CONNECTION_RATE_LIMIT}",
        "smtpd_client_event_limit_exceptions=",
    ),
    "sizelimit": (f"message_size_limit={MESSAGE_SIZE_LIMIT}",),
    "notls": ("smtpd_tls_security_level=none", "smtpd_sasl_auth_enable=yes"),
    "smtps": ("smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes"),
    "otherca": ("smtpd_tls_chain_files={conf}/otherca.pem",),
    # Debian's Postfix closing sessions idle for IDLE_TIMEOUT, as its 300 s default does a
    # low-traffic relay's, over STARTTLS and AUTH.
    "idle": (
        f"smtpd_timeout={IDLE_TIMEOUT}s",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
    ),
    "strict": ("smtpd_forbid_bare_newline=reject", "smtpd_forbid_bare_newline_exclusions="),
    # The smarthost of docs/install.md, relaying for its network: mail to NEXT_HOP goes on to
    # a server on loopback (Postfix.route), and Postfix's reports to BOUNCES through the pipe.
    "smarthost": (),
}
# The domain Postfix hands on over SMTP to a server on loopback (Postfix.route), the next hop
# after the smarthost; and the domain of BOUNCE_ADDRESS.
NEXT_HOP = "nexthop.postfix.test"
BOUNCE_DOMAIN = "bounces.postfix.test"
# BOUNCE_ADDRESS for mail through the instance: it and each `bounces+TOKEN` (recipient_delimiter)
# go to docs/install.md's pipe service (support/bounce_pipe.py).
BOUNCES = f"bounces@{BOUNCE_DOMAIN}"
PIPE_SERVICE = "outpost-bounce"

# The daemons every instance needs, none chrooted (the fifth column: our paths are absolute).
_DAEMONS = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def write(base: Path, conf: Path, ports: dict[str, int], policy: int) -> None:
    """Write an instance's configuration in `conf`, its queue, log and mail under `base`;
    `policy` is the port of the greylisting policy server."""
    owner = pwd.getpwnam(OWNER)
    (conf / "main.cf").write_text(_main_cf(base, conf, owner))
    (conf / "master.cf").write_text(_master_cf(conf, ports, policy))
    write_routes(conf, {})
    # A pattern rather than a list: a list (texthash) is read when a process starts, and
    # a reload to add each scenario's users stalls the next connection for two seconds.
    # One maildir: the virtual agent takes no `$1` from a pattern to name one per user.
    domains = "|".join(re.escape(domain) for domain in (DOMAIN, API_DOMAIN))
    (conf / "users").write_text(f"if !/^{UNKNOWN}/\n/@({domains})$/ {DOMAIN}/\nendif\n")
    write_greylist(conf, [])
    database = conf / "sasl" / "sasldb2"
    (conf / "sasl" / "smtpd.conf").write_text(
        "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
        f"sasldb_path: {database}\nmech_list: PLAIN LOGIN\n"
    )
    set_password(conf, LOGIN[1])
    # smtpd reads it as Postfix's user.
    os.chown(database, 0, owner.pw_gid)
    database.chmod(0o640)


def _main_cf(base: Path, conf: Path, owner: pwd.struct_passwd) -> str:
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": base / "queue",
        "data_directory": base / "data",
        "maillog_file": base / "maillog",
        "maillog_file_prefixes": base,
        "myhostname": HOSTNAME,
        "mydomain": DOMAIN,
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "alias_maps": "",
        "alias_database": "",
        "biff": "no",
        "virtual_mailbox_domains": f"{DOMAIN} {API_DOMAIN}",
        "virtual_mailbox_base": base / "mail",
        "virtual_mailbox_maps": f"regexp:{conf / 'users'}",
        "virtual_uid_maps": f"static:{owner.pw_uid}",
        "virtual_gid_maps": f"static:{owner.pw_gid}",
        "relay_domains": DISCARD_DOMAIN,
        "transport_maps": f"texthash:{conf / 'transport'}",
        "smtpd_tls_chain_files": conf / "server.pem",
        "smtpd_tls_security_level": "may",
        "smtpd_tls_loglevel": "1",
        "cyrus_sasl_config_path": conf / "sasl",
        "smtpd_sasl_local_domain": HOSTNAME,
        "anvil_rate_time_unit": f"{RATE_TIME_UNIT}s",
    }
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


def _master_cf(conf: Path, ports: dict[str, int], policy: int) -> str:
    services = []
    for name, overrides in SCENARIOS.items():
        options = [f"syslog_name=postfix/{name}", *overrides]
        flags = " ".join(f"-o {o.format(conf=conf, policy=policy)}" for o in options)
        services.append(f"127.0.0.1:{ports[name]} inet n - n - - smtpd {flags}\n")
    return "".join(services) + _DAEMONS


def write_routes(conf: Path, routes: dict[str, int]) -> None:
    """The transport table: DISCARD_DOMAIN thrown away, BOUNCES piped, each domain of `routes`
    relayed to the server on that loopback port."""
    relayed = "".join(f"{domain} smtp:[127.0.0.1]:{port}\n" for domain, port in routes.items())
    piped = f"{BOUNCES} {PIPE_SERVICE}:\n"
    (conf / "transport").write_text(f"{DISCARD_DOMAIN} discard:\n{piped}{relayed}")


def write_greylist(conf: Path, addresses: list[str]) -> None:
    """The recipients the greylist service answers `450 4.7.1 … Greylisted`."""
    (conf / "greylist").write_text(
        "".join(f"{address} DEFER_IF_PERMIT Greylisted\n" for address in addresses)
    )


def set_password(conf: Path, password: str) -> None:
    """Set the password Postfix's AUTH takes for LOGIN's user."""
    database = conf / "sasl" / "sasldb2"
    subprocess.run(
        [SASLPASSWD, "-f", database, "-u", HOSTNAME, "-c", "-p", LOGIN[0]],
        input=password.encode(),
        check=True,
    )
