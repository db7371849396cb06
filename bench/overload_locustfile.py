"""Locust's sign-ups for bench/overload.py: each user connects (a GET of /healthz over TLS),
waits for OVERLOAD_START, then registers a new address once every OVERLOAD_PERIOD seconds from a
random moment of the first period on (constant throughput; the period is longer than any answer
takes, so that a slow answer delays no arrival: the rate offered is users / period, whatever the
server does); or back to back with OVERLOAD_CLOSED=1 (to find the rate the machine sustains).
Every answer is written to OVERLOAD_LOG as a JSON line: when it was sent (epoch seconds),
status, seconds, delivery id, Retry-After."""

from __future__ import annotations

import json
import os
import random
import time
import uuid

from locust import HttpUser, constant, constant_throughput, task

LOG = open(os.environ["OVERLOAD_LOG"], "a", buffering=1)  # noqa: SIM115 (one for the run)
PERIOD = float(os.environ.get("OVERLOAD_PERIOD", "1"))


class SignUp(HttpUser):
    """A person signing up."""

    wait_time = (
        constant(0) if os.environ.get("OVERLOAD_CLOSED") else constant_throughput(1 / PERIOD)
    )

    def on_start(self) -> None:
        # Locust's session is not told about REQUESTS_CA_BUNDLE: the site's test CA, named.
        self.client.verify = os.environ["OVERLOAD_CA"]
        if start := float(os.environ.get("OVERLOAD_START", "0")):
            # Connected before the burst: thousands of TLS handshakes made Locust, on the same
            # cores, seconds late with the first sign-ups, then sent them all at once.
            self.client.get("/healthz")
            time.sleep(max(0.0, start + random.uniform(0, PERIOD) - time.time()))  # gevent's

    @task
    def register(self) -> None:
        body = {"email": f"{uuid.uuid4().hex}@example.com", "password": "correct horse battery"}
        sent, started = time.time(), time.perf_counter()
        with self.client.post("/v1/registrations", json=body, catch_response=True) as answer:
            seconds = time.perf_counter() - started
            delivery = None
            if answer.status_code == 202:
                delivery = answer.json()["delivery"]["id"]
            line = {
                "sent": sent,
                "status": answer.status_code,
                "seconds": seconds,
                "delivery": delivery,
                "retry_after": answer.headers.get("Retry-After"),
                "error": repr(answer.error)[:200] if answer.error else None,
            }
            LOG.write(json.dumps(line) + "\n")
            answer.success()
