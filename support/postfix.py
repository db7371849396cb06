"""A private Debian Postfix for the tests: its own configuration, queue, log and mailboxes, each
scenario an smtpd service of its own on a free loopback port."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from support.smtp_sink import free_port
from support.smtp_stages import SmtpCA

BINARY = Path("/usr/sbin/postfix")
SASLPASSWD = Path("/usr/sbin/saslpasswd2")
# Postfix's unprivileged user: its daemons read the SASL database and own the mailboxes.
OWNER = "postfix"
HOSTNAME = "mx.postfix.test"
# Mail to this domain goes to one maildir, each mail marked `Delivered-To:` its user; users whose
# name starts with UNKNOWN are not in the table, and Postfix refuses them `550 5.1.1`.
DOMAIN = "postfix.test"
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
    "anvil": (
        f"smtpd_client_message_rate_limit={MESSAGE_RATE_LIMIT}",
        "smtpd_client_event_limit_exceptions=",
    ),
    "conncap": (
        f"smtpd_client_connection_count_limit={CONNECTION_LIMIT}",
        "smtpd_client_event_limit_exceptions=",
    ),
    "sizelimit": (f"message_size_limit={MESSAGE_SIZE_LIMIT}",),
    "notls": ("smtpd_tls_security_level=none", "smtpd_sasl_auth_enable=yes"),
    "smtps": ("smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes"),
    "otherca": ("smtpd_tls_chain_files={conf}/otherca.pem",),
    "strict": ("smtpd_forbid_bare_newline=reject", "smtpd_forbid_bare_newline_exclusions="),
}

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
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available() -> bool:
    """Whether Postfix and saslpasswd2 are installed here and can be started (as root)."""
    return BINARY.exists() and SASLPASSWD.exists() and os.geteuid() == 0


class Postfix:
    """One private Postfix instance under a temporary directory; `start()` it, `stop()` it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="outpost-postfix-"))
        self.conf = self.base / "conf"
        self.ports = {name: free_port() for name in SCENARIOS}
        self._greylisted: list[str] = []
        self._serial = 0
        owner = pwd.getpwnam(OWNER)
        # Postfix's own daemons, running as its user, walk these paths.
        self.base.chmod(0o755)
        (self.base / "queue").mkdir()
        (self.base / "mail").mkdir()
        os.chown(self.base / "mail", owner.pw_uid, owner.pw_gid)
        (self.conf / "sasl").mkdir(parents=True)
        ca, other = SmtpCA.make(), SmtpCA.make()
        self.ca_file = self.base / "ca.pem"
        ca.ca.cert_pem.write_to_path(str(self.ca_file))
        ca.leaf.private_key_and_cert_chain_pem.write_to_path(str(self.conf / "server.pem"))
        other.leaf.private_key_and_cert_chain_pem.write_to_path(str(self.conf / "otherca.pem"))
        (self.conf / "main.cf").write_text(self._main_cf(owner))
        (self.conf / "master.cf").write_text(self._master_cf())
        (self.conf / "transport").write_text(f"{DISCARD_DOMAIN} discard:\n")
        # A pattern rather than a list: a list (texthash) is read when a process starts, and
        # a reload to add each scenario's users stalls the next connection for two seconds.
        # One maildir: the virtual agent takes no `$1` from a pattern to name one per user.
        (self.conf / "users").write_text(
            f"if !/^{UNKNOWN}/\n/@{re.escape(DOMAIN)}$/ {DOMAIN}/\nendif\n"
        )
        self._write_greylist()
        self._sasl(owner)

    def _main_cf(self, owner: pwd.struct_passwd) -> str:
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.base / "queue",
            "data_directory": self.base / "data",
            "maillog_file": self.base / "maillog",
            "maillog_file_prefixes": self.base,
            "myhostname": HOSTNAME,
            "mydomain": DOMAIN,
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": self.base / "mail",
            "virtual_mailbox_maps": f"regexp:{self.conf / 'users'}",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "relay_domains": DISCARD_DOMAIN,
            "transport_maps": f"texthash:{self.conf / 'transport'}",
            "smtpd_tls_chain_files": self.conf / "server.pem",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1",
            "cyrus_sasl_config_path": self.conf / "sasl",
            "smtpd_sasl_local_domain": HOSTNAME,
            "anvil_rate_time_unit": f"{RATE_TIME_UNIT}s",
        }
        return "".join(f"{key} = {value}\n" for key, value in settings.items())

    def _master_cf(self) -> str:
        services = []
        for name, overrides in SCENARIOS.items():
            options = [f"syslog_name=postfix/{name}", *overrides]
            flags = " ".join(f"-o {o.format(conf=self.conf)}" for o in options)
            services.append(f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd {flags}\n")
        return "".join(services) + _DAEMONS

    def _sasl(self, owner: pwd.struct_passwd) -> None:
        database = self.conf / "sasl" / "sasldb2"
        (self.conf / "sasl" / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
            f"sasldb_path: {database}\nmech_list: PLAIN LOGIN\n"
        )
        self.set_password(LOGIN[1])
        os.chown(database, 0, owner.pw_gid)
        database.chmod(0o640)

    def set_password(self, password: str) -> None:
        """Set the password Postfix's AUTH takes for LOGIN's user."""
        database = self.conf / "sasl" / "sasldb2"
        subprocess.run(
            [SASLPASSWD, "-f", database, "-u", HOSTNAME, "-c", "-p", LOGIN[0]],
            input=password.encode(),
            check=True,
        )

    def _write_greylist(self) -> None:
        (self.conf / "greylist").write_text(
            "".join(f"{address} DEFER_IF_PERMIT Greylisted\n" for address in self._greylisted)
        )

    def fresh(self, prefix: str) -> str:
        """`prefix` made unique in this instance: a scenario's mailboxes are its own."""
        self._serial += 1
        return f"{prefix}{self._serial}x"

    def greylist(self, addresses: list[str]) -> None:
        """Answer these recipients `450 4.7.1 Greylisted` from now on (and no others)."""
        self._greylisted = list(addresses)
        self._write_greylist()
        self.reload()

    def _postfix(self, command: str) -> None:
        """Run `postfix -c CONFIG COMMAND`; its complaints go to the instance's log."""
        done = subprocess.run(
            [BINARY, "-c", self.conf, command], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"postfix {command} failed:\n{self.log()[-3000:]}")

    def start(self) -> None:
        """Start the instance; return once every scenario's port listens."""
        before = self.log().count("daemon started")
        self._postfix("start")
        self._wait_for_log("daemon started", before + 1)

    def stop(self) -> None:
        """Stop the instance; return once its master process is gone."""
        pid = self._master_pid()
        self._postfix("stop")
        deadline = time.monotonic() + 15
        while pid is not None and Path(f"/proc/{pid}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix master {pid} still runs")
            time.sleep(0.02)

    def _master_pid(self) -> int | None:
        """The master process's id while it runs."""
        try:
            pid = int((self.base / "queue" / "pid" / "master.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def reload(self) -> None:
        """Have every service read the configuration and maps again; return once they do."""
        if self._master_pid() is None:
            return
        before = self.log().count("reload -- version")
        self._postfix("reload")
        self._wait_for_log("reload -- version", before + 1)
        # The first session after a reload waits about two seconds for its greeting: taken
        # here, so that no scenario's timing counts it.
        with smtplib.SMTP("127.0.0.1", self.ports["strict"], timeout=15) as session:
            session.noop()

    def _wait_for_log(self, text: str, count: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix did not log {text!r}:\n{self.log()[-3000:]}")
            time.sleep(0.02)

    def log(self, since: int = 0) -> str:
        """Postfix's log (its `maillog_file`) from offset `since` (a `mark()`)."""
        try:
            return (self.base / "maillog").read_text(errors="replace")[since:]
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """Where the log ends now: what a scenario passes as `since` to read only its own."""
        return len(self.log())

    def service_log(self, scenario: str, since: int = 0) -> list[str]:
        """The lines one scenario's smtpd wrote to the log from `since`."""
        tag = f"postfix/{scenario}/"
        return [line for line in self.log(since).splitlines() if tag in line]

    def mailbox(self, address: str) -> list[EmailMessage]:
        """The messages delivered to `address`, oldest first."""
        paths = sorted((self.base / "mail" / DOMAIN / "new").glob("*"), key=_delivered_at)
        messages = []
        for path in paths:
            with path.open("rb") as file:
                headers = BytesHeaderParser().parse(file)
            if headers["Delivered-To"] != address:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            messages.append(message)
        return messages

    def url(
        self, scenario: str, *, scheme: str = "smtp", login: bool = True, query: str = ""
    ) -> str:
        """SMTP_URL for a scenario's service, with LOGIN's credentials unless `login` is off."""
        credentials = f"{LOGIN[0]}:{LOGIN[1]}@" if login else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.ports[scenario]}?timeout=5{query}"

    def close(self) -> None:
        """Stop the instance and remove everything it wrote."""
        if self._master_pid() is not None:
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _delivered_at(path: Path) -> int:
    return path.stat().st_mtime_ns
