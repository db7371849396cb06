"""Locust's sign-ups for bench/overload.py: each user registers a new address once every
OVERLOAD_PERIOD seconds (constant throughput; the period is longer than any answer takes, so
that a slow answer delays no arrival: the rate offered is users / period, whatever the server
does), or back to back with OVERLOAD_CLOSED=1 (to find the rate the machine sustains); every
answer is written to OVERLOAD_LOG as a JSON line: status, seconds, delivery id, Retry-After."""

from __future__ import annotations

import json
import os
import time
import uuid

from locust import HttpUser, constant, constant_throughput, task

LOG = open(os.environ["OVERLOAD_LOG"], "a", buffering=1)  # noqa: SIM115 (one for the run)


class SignUp(HttpUser):
    """A person signing up."""

    wait_time = (
        constant(0)
        if os.environ.get("OVERLOAD_CLOSED")
        else constant_throughput(1 / float(os.environ.get("OVERLOAD_PERIOD", "1")))
    )

    def on_start(self) -> None:
        # Locust's session is not told about REQUESTS_CA_BUNDLE: the site's test CA, named.
        self.client.verify = os.environ["OVERLOAD_CA"]

    @task
    def register(self) -> None:
        body = {"email": f"{uuid.uuid4().hex}@example.com", "password": "correct horse battery"}
        started = time.perf_counter()
        with self.client.post("/v1/registrations", json=body, catch_response=True) as answer:
            seconds = time.perf_counter() - started
            delivery = None
            if answer.status_code == 202:
                delivery = answer.json()["delivery"]["id"]
            line = {
                "status": answer.status_code,
                "seconds": seconds,
                "delivery": delivery,
                "retry_after": answer.headers.get("Retry-After"),
                "error": repr(answer.error)[:200] if answer.error else None,
            }
            LOG.write(json.dumps(line) + "\n")
            answer.success()
