"""The Prometheus alert rules: on metrics the processes export, valid for `promtool check rules`,
and every alert firing in `promtool test rules` on series of its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from api_service import metrics as api_metrics
from api_service.flows import sms_counts
from outbox_relay import metrics
from outpost.deploy_files import SHIPPED

ALERTS_FILE = SHIPPED / "prometheus" / "outpost-alerts.yml"
ALERTS_TESTS = SHIPPED / "prometheus" / "outpost-alerts.test.yml"
# The example configuration: the scrape jobs the rules name, the rules beside it.
SCRAPE_EXAMPLE = SHIPPED / "prometheus" / "outpost-prometheus.yml"
# Debian's `prometheus` package brings it (`.ci/run` installs it); no Prometheus server runs.
PROMTOOL = Path("/usr/bin/promtool")
# The scrape jobs the rules name (documented in the rules' header).
RELAY_UP = 'up{job="outbox-relay"}'
API_UP = 'up{job="outpost-api"}'
# An aggregation's grouping (empty: over everything), and a binary operator's matching labels,
# but for `or on ()` before absent(), which stands for a job with no target at all.
AGGREGATION = re.compile(r"\b(?:sum|min|max|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(")
MATCHING = re.compile(r"\b(?:and|unless|or)\s+on\s*\(([^)]*)\)(?!\s*absent\()")


def rules() -> list[dict[str, Any]]:
    """Every rule of the alert file."""
    with ALERTS_FILE.open() as fh:
        return [rule for group in yaml.safe_load(fh)["groups"] for rule in group["rules"]]


def test_alert_rules_cover_providers_backlog_dead_rate_and_relays_with_metrics_exported() -> None:
    # Both processes' metrics are registered by importing them.
    assert metrics.PROVIDER_UP is not None and api_metrics.PROVIDER_EVENTS is not None
    assert sms_counts.SMS_TOTAL is not None
    families = list(REGISTRY.collect())
    exported = {family.name for family in families} | {
        f"{family.name}_total" for family in families if family.type == "counter"
    }
    # Read from the database at each scrape of the API, not registered.
    exported |= {name for name, _, _ in api_metrics.BACKLOG}
    by_name = {rule["alert"]: rule for rule in rules()}
    assert {
        "OutpostProviderDown",
        "OutpostOldestDueMessageTooOld",
        "OutpostDeadRateRising",
        "OutpostRelayDown",
        "OutpostRelayAbsent",
        "OutpostBounceRateHigh",
        "OutpostComplaintRateHigh",
        "OutpostSmsRegionSurge",
    } <= by_name.keys()
    assert "> 0.05" in by_name["OutpostBounceRateHigh"]["expr"]
    assert "> 0.001" in by_name["OutpostComplaintRateHigh"]["expr"]
    assert by_name["OutpostProviderDown"]["for"] == "5m"
    assert by_name["OutpostRelayAbsent"]["expr"].endswith(f"or on () absent({RELAY_UP})\n")
    assert by_name["OutpostApiAbsent"]["expr"].endswith(f"or on () absent({API_UP})\n")
    for rule in by_name.values():
        used = set(re.findall(r"\b(outpost_[a-z_]+)", rule["expr"]))
        assert used or RELAY_UP in rule["expr"] or API_UP in rule["expr"], rule["alert"]
        assert used <= exported, f"{rule['alert']} uses {used - exported}"
        assert rule["labels"]["severity"] and rule["annotations"]["summary"]


def test_every_rule_that_aggregates_or_matches_keeps_the_deployments_apart() -> None:
    """One Prometheus may scrape several deployments: a sum, count or comparison over all of
    them lets a healthy one hide another's trouble (a relay elsewhere, traffic elsewhere)."""
    for rule in rules():
        for by in AGGREGATION.findall(rule["expr"]):
            assert "deployment" in re.split(r",\s*", by), f"{rule['alert']}: by ({by})"
        for on in MATCHING.findall(rule["expr"]):
            assert "deployment" in re.split(r",\s*", on), f"{rule['alert']}: on ({on})"


def test_the_scrape_example_has_the_jobs_the_rules_name() -> None:
    with SCRAPE_EXAMPLE.open() as fh:
        example = yaml.safe_load(fh)
    jobs = {job["job_name"] for job in example["scrape_configs"]}
    named = {job for rule in rules() for job in re.findall(r'job="([^"]+)"', rule["expr"])}
    assert jobs == named == {"outbox-relay", "outpost-api"}
    assert example["rule_files"] == [ALERTS_FILE.name]
    for job in example["scrape_configs"]:
        assert [config["labels"] for config in job["static_configs"]] == [
            {"deployment": "@DEPLOYMENT@"}
        ], "every target names its deployment, which the rules group by"


@pytest.mark.parametrize(
    "command",
    [
        ["check", "rules", ALERTS_FILE],
        ["test", "rules", ALERTS_TESTS],
        ["check", "config", SCRAPE_EXAMPLE],
    ],
    ids=["check", "test", "config"],
)
def test_promtool_passes(command: list[str | Path]) -> None:
    assert PROMTOOL.exists(), f"{PROMTOOL} missing: apt install prometheus"
    done = subprocess.run(
        [PROMTOOL, *command], capture_output=True, text=True, timeout=60, cwd=ALERTS_FILE.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_in_promtools_tests() -> None:
    """promtool passes a file that tests no alert, or not every one: each needs its series."""
    with ALERTS_TESTS.open() as fh:
        cases = [case for test in yaml.safe_load(fh)["tests"] for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in rules()}
