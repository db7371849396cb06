"""The relay's drain through a real Postfix beside a bare smtplib loop against the same Postfix.

Run from the repository root, as root (Postfix's master runs as root):
`.venv/bin/python -m bench.postfix_drain [--messages N]`.

The tests' private Debian Postfix (support/postfix.py), its `starttls_auth` service: STARTTLS
verified against the instance's test CA, then AUTH, as a production relay would; the mail goes
to its `discard` transport, so Postfix accepts each message into its queue (written and
fsync'ed, as for real) and throws it away. The bare loop sends the pre-rendered messages over
one session with the same STARTTLS and AUTH; the relay is `outbox-relay run` with its default
settings. Two rounds, alternating, each against a fresh batch.
"""

from __future__ import annotations

import argparse
import smtplib
import ssl
import sys

from bench.common import command, machine, postgres_database
from bench.relay_drain import Drain, bare_rate, relay_rate
from shared.database.db import create_engine_for
from support.bulk import queue_emails
from support.postfix import Postfix, available
from support.postfix_config import DISCARD_DOMAIN, LOGIN


def main() -> int:
    """Measure both rates twice, alternating; print them, their ratio and the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not available():
        print("Postfix needs root and `apt-get install postfix sasl2-bin libsasl2-modules`")
        return 2

    postfix = Postfix()
    figures: list[tuple[Drain, Drain]] = []
    try:
        postfix.start()
        port = postfix.ports["starttls_auth"]
        context = ssl.create_default_context(cafile=str(postfix.ca_file))

        def session(port: int) -> smtplib.SMTP:
            smtp = smtplib.SMTP("127.0.0.1", port)
            smtp.starttls(context=context)
            smtp.login(*LOGIN)
            return smtp

        with postgres_database("outpost_postfix_drain") as url:
            engine = create_engine_for(url)
            for n in range(args.rounds):
                queue_emails(engine, args.messages, prefix=f"bare{n}-", domain=DISCARD_DOMAIN)
                bare = bare_rate(engine, port, args.messages, session)
                queue_emails(engine, args.messages, prefix=f"relay{n}-", domain=DISCARD_DOMAIN)
                relay = relay_rate(
                    engine,
                    url,
                    port,
                    args.messages,
                    SMTP_URL=postfix.url("starttls_auth", starttls=True).replace(
                        "timeout=5", "timeout=30"
                    ),
                    SSL_CERT_FILE=str(postfix.ca_file),
                )
                figures.append((bare, relay))
            engine.dispose()
    finally:
        postfix.close()

    print(machine())
    print(
        f"messages: {args.messages} welcome emails (text + HTML) a round, through Debian's "
        "Postfix (STARTTLS + AUTH, queued then discarded)"
    )
    for n, (bare, relay) in enumerate(figures, 1):
        print(
            f"round {n}: bare smtplib loop {bare.rate:.0f} messages/s ({bare.cpu_ms:.2f} ms of "
            f"CPU a message); relay {relay.rate:.0f} messages/s from its first claim "
            f"({relay.cpu_ms:.2f} ms of CPU a message); ratio {relay.rate / bare.rate:.2f}"
        )
    print(command("bench.postfix_drain"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
