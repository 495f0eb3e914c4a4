"""The shipped Prometheus alert rules and Grafana dashboard (deploy/): checked and
unit-tested by the real promtool, and every metric they name is one the console's
/metrics really exposes (or, named in UPCOMING, one the follow mode will expose).

promtool comes from Debian's ``prometheus`` package (.ci/run installs it); without it
these tests fail, never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbtools import REPO_ROOT, TestDatabases
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from jobs.export_to_pg.handler import load_definitions
from services.base.settings import DatabaseUrls
from services.console.catalog import Catalog, ConsolePools
from services.console.metrics import registry

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "tablesync-alerts.yml"
RULE_TESTS = RULES_DIR / "tablesync-alerts.test.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "tablesync-dashboard.json"
# Named by the alerts and the dashboard before the follow mode (contract rule 20) exposes
# it: the end of a follower's last cycle, Unix time. docs/console.md says so too.
UPCOMING = {"tablesync_follower_last_cycle_timestamp_seconds"}
_METRIC = re.compile(r"\btablesync_[a-z0-9_]+\b")


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is missing: apt-get install prometheus (Debian ships promtool in it)"
    return subprocess.run(
        [found, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")  # a test that sees it fire, not only stay quiet
    }
    assert {rule["alert"] for rule in rules} == tested


def _rule_expressions() -> list[str]:
    return [rule["expr"] for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]]


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    found += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found


@pytest.fixture
def scraped(dbs: TestDatabases) -> Iterator[set[str]]:
    """The metric names of one real scrape of the console's collector, sample names
    (``tablesync_runs_total``) and family names alike, empty families included."""
    pools = ConsolePools(DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url))
    try:
        catalog = Catalog.load({"export-to-pg": load_definitions})
        text = generate_latest(registry(pools, catalog, 900.0)).decode()
    finally:
        pools.close()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
    assert "tablesync_definition_failing" in names  # the scrape read the databases
    yield names


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_named_is_one_the_console_exposes(scraped: set[str], source: str) -> None:
    expressions = _rule_expressions() if source == "rules" else _dashboard_expressions()
    named = {name for expr in expressions for name in _METRIC.findall(expr)}
    assert named, "no metric found: the expressions moved"
    assert named - scraped - UPCOMING == set()


def test_the_upcoming_metric_is_documented_as_such() -> None:
    text = (REPO_ROOT / "docs" / "console.md").read_text()
    for name in UPCOMING:
        assert name in text


def test_the_dashboard_is_grafana_json_with_a_query_in_every_panel() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "tablesync" and dashboard["schemaVersion"] >= 30
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        assert panel["datasource"]["type"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_promtool_lints_a_real_scrape(scraped: set[str], dbs: TestDatabases) -> None:
    pools = ConsolePools(DatabaseUrls(core=dbs.core_url, analytics=dbs.analytics_url))
    try:
        catalog = Catalog.load({"export-to-pg": load_definitions})
        text = generate_latest(registry(pools, catalog, 900.0)).decode()
    finally:
        pools.close()
    found = shutil.which("promtool")
    assert found
    done = subprocess.run(
        [found, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
