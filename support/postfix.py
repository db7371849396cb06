"""A private Debian Postfix for the tests: its own configuration, queue, log and mailboxes, each
scenario an smtpd service of its own on a free loopback port (support/postfix_config.py)."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
from email.message import EmailMessage
from pathlib import Path

from outbox_relay.compose import message_id
from outbox_relay.relay import Relay
from support import bounce_pipe, postfix_config, processes
from support.ports import free_port
from support.postfix_config import DOMAIN, LOGIN, OWNER, SASLPASSWD, SCENARIOS
from support.processes import eventually
from support.smtp_stages import SmtpCA

BINARY = Path("/usr/sbin/postfix")
# The resident process, run here in the foreground: `postfix start` would make it a daemon, which
# a killed test process would leave running.
MASTER = Path("/usr/lib/postfix/sbin/master")
# A relay against this Postfix probes a paused provider at least every PROBE_INTERVAL (a pause
# costs a scenario about a second, not minutes), with four senders (four smtpd processes
# started, not one per mail).
PROBE_INTERVAL = 1.0
RELAY_SETTINGS = {
    "relay_backoff_base": 0.2,
    "relay_backoff_cap": PROBE_INTERVAL,
    "relay_concurrency": 4,
}


def available() -> bool:
    """Whether Postfix and saslpasswd2 are installed here and can be started (as root)."""
    return BINARY.exists() and SASLPASSWD.exists() and os.geteuid() == 0


class Postfix:
    """One private Postfix instance under a temporary directory; `start()` it, `close()` it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="outpost-postfix-"))
        self.conf = self.base / "conf"
        self.ports = {name: free_port() for name in SCENARIOS}
        # Where the `postgrey` scenario asks its policy server (support/postgrey.py).
        self.policy_port = free_port()
        self._serial = 0
        self._master: subprocess.Popen[bytes] | None = None
        self._mail: dict[Path, EmailMessage] = {}
        self._piping = False
        owner = pwd.getpwnam(OWNER)
        # Postfix's own daemons, running as its user, walk these paths.
        self.base.chmod(0o755)
        (self.base / "queue").mkdir()
        (self.base / "mail").mkdir()
        os.chown(self.base / "mail", owner.pw_uid, owner.pw_gid)
        (self.conf / "sasl").mkdir(parents=True)
        ca, other = SmtpCA.make(), SmtpCA.make()
        # What SSL_CERT_FILE names for the relay to trust Postfix's certificate.
        self.ca_file = self.base / "ca.pem"
        ca.ca.cert_pem.write_to_path(str(self.ca_file))
        ca.leaf.private_key_and_cert_chain_pem.write_to_path(str(self.conf / "server.pem"))
        other.leaf.private_key_and_cert_chain_pem.write_to_path(str(self.conf / "otherca.pem"))
        postfix_config.write(self.base, self.conf, self.ports, self.policy_port)

    def url(
        self, scenario: str, *, scheme: str = "smtp", login: bool = True, starttls: bool = False
    ) -> str:
        """SMTP_URL for a scenario's service, with LOGIN's credentials unless `login` is off,
        and `starttls=true` if asked."""
        credentials = f"{LOGIN[0]}:{LOGIN[1]}@" if login else ""
        query = "&starttls=true" if starttls else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.ports[scenario]}?timeout=5{query}"

    def fresh(self, prefix: str) -> str:
        """`prefix` made unique in this instance: a scenario's mailboxes are its own."""
        self._serial += 1
        return f"{prefix}{self._serial}x"

    def set_password(self, password: str) -> None:
        """Set the password Postfix's AUTH takes for LOGIN's user (read at each AUTH)."""
        postfix_config.set_password(self.conf, password)

    def greylist(self, addresses: list[str]) -> None:
        """Answer these recipients `450 4.7.1 … Greylisted` from now on, and no others."""
        postfix_config.write_greylist(self.conf, addresses)
        self.reload()

    def route(self, routes: dict[str, int]) -> None:
        """Relay mail to each domain of `routes` to the server on that loopback port."""
        postfix_config.write_routes(self.conf, routes)
        self.reload()

    def configure(self, **settings: str) -> None:
        """Change main.cf's `settings` (`postconf -e`) and have every service read them."""
        self._postconf("-e", *(f"{name}={value}" for name, value in settings.items()))
        self.reload()

    def pipe_reports(self, env: dict[str, str]) -> None:
        """Have the pipe service hand mail to BOUNCES to `outbox-relay bounce` with `env`: the
        service and its settings added the first time, as docs/install.md adds them (an
        instance that does not pipe has none of them: the recipe's adds its own)."""
        bounce_pipe.prepare(self.base, env)
        if not self._piping:
            self._postconf("-M", bounce_pipe.service(self.base))
            self.configure(**bounce_pipe.SETTINGS)
            self._piping = True

    def flush(self) -> None:
        """Try every deferred mail again now (`postqueue -f`)."""
        subprocess.run(["postqueue", "-c", self.conf, "-f"], check=True, timeout=30)

    def piped(self, since: int = 0) -> list[str]:
        """The pipe service's deliveries from `since`: each its log line, whatever the command's
        exit status (`status=sent`: 0; `deferred`: 75; `bounced`: 65)."""
        tag = f"relay={postfix_config.PIPE_SERVICE},"
        return [line for line in self.log(since).splitlines() if tag in line]

    def start(self) -> None:
        """Start the instance, as `postfix start-fg` does but as this process's child (its
        checks, then the master); return once every scenario's port listens."""
        before = self.log().count("daemon started")
        self._postfix("check")
        # Kept: the master changes its own user for moments (support/keeper.py).
        self._master = processes.tied(
            [MASTER, "-c", self.conf], self.base / "queue", self.base / "master.out", kept=True
        )
        self._wait_for_log("daemon started", before + 1)

    def stop(self) -> None:
        """Stop the instance (`postfix stop`, which kills its processes after 5 s); return once
        its master, and so its keeper, is gone."""
        if self._running():
            assert self._master is not None
            self._postfix("stop")
            self._master.wait(15)

    def reload(self) -> None:
        """Have every service read the configuration and tables again; return once they do."""
        if not self._running():
            return
        before = self.log().count("reload -- version")
        self._postfix("reload")
        self._wait_for_log("reload -- version", before + 1)
        # The first session after a reload waits about two seconds for its greeting: taken
        # here, so that no scenario's timing counts it.
        with smtplib.SMTP("127.0.0.1", self.ports["strict"], timeout=15) as session:
            session.noop()

    def close(self) -> None:
        """Stop the instance and remove everything it wrote."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

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

    def sessions(self, scenario: str, since: int) -> list[str]:
        """The `disconnect` lines of a scenario's sessions (each with its command counts, e.g.
        `ehlo=2 starttls=1 auth=1`), waiting for the first: call it once the client is closed."""

        def ended() -> list[str]:
            return [line for line in self.service_log(scenario, since) if "disconnect from" in line]

        eventually(lambda: bool(ended()), 10, f"a {scenario} session ended")
        return ended()

    def mailbox(self, address: str) -> list[EmailMessage]:
        """The messages delivered to `address`, oldest first."""
        return self.mailboxes().get(address, [])

    def mailboxes(self) -> dict[str, list[EmailMessage]]:
        """Every message delivered, by its `Delivered-To` address, oldest first."""
        paths = (self.base / "mail" / DOMAIN / "new").glob("*")
        by_address: dict[str, list[EmailMessage]] = {}
        for path in sorted(paths, key=lambda p: p.stat().st_mtime_ns):
            if path not in self._mail:
                parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                self._mail[path] = parsed
            message = self._mail[path]
            by_address.setdefault(str(message["Delivered-To"]), []).append(message)
        return by_address

    def wait_for_mail(self, addresses: list[str]) -> list[list[str]]:
        """The Message-IDs each address received, once every one has received something."""

        def received() -> list[list[str]]:
            mail = self.mailboxes()
            return [[str(m["Message-ID"]) for m in mail.get(a, [])] for a in addresses]

        eventually(lambda: all(received()), 10, "every mail delivered")
        return received()

    def _postconf(self, *args: str) -> None:
        """Run `postconf -c CONFIG ARGS`, as an operator changes main.cf or master.cf."""
        subprocess.run(["postconf", "-c", self.conf, *args], check=True, timeout=30)

    def _postfix(self, command: str) -> None:
        """Run `postfix -c CONFIG COMMAND`; its complaints go to the instance's log."""
        done = subprocess.run(
            [BINARY, "-c", self.conf, command], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"postfix {command} failed:\n{self.log()[-3000:]}")

    def _running(self) -> bool:
        """Whether the master process runs."""
        return self._master is not None and self._master.poll() is None

    def _wait_for_log(self, text: str, count: int) -> None:
        """Until the log holds `text` `count` times; failing with the log's end."""

        def logged() -> bool:
            if self._master is not None and self._master.poll() is not None:
                raise RuntimeError(f"the master exited with {self._master.returncode}")
            return self.log().count(text) >= count

        try:
            eventually(logged, 15, f"Postfix logged {text!r}")
        except (AssertionError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}:\n{self.log()[-3000:]}") from None


def addresses(prefix: str, count: int, domain: str = DOMAIN) -> list[str]:
    """`<prefix><n>@<domain>`, n from 0: the recipients `queue_emails` writes."""
    return [f"{prefix}{n}@{domain}" for n in range(count)]


def delivered_once(postfix: Postfix, relay: Relay, recipients: list[str], ids: list[str]) -> None:
    """Assert that each row's mail is in its recipient's mailbox once, by its Message-ID."""
    expected = [[message_id(i, relay.settings.mail_from)] for i in ids]
    assert postfix.wait_for_mail(recipients) == expected
