"""deploy/monitoring/prometheusrule.yaml, without Prometheus (tests/e2e/test_packaging.py parses the expressions with
Prometheus's own parser): every alert links its runbook, a section of docs/runbooks.md; the alerts a Prometheus admin
expects are there (error rate, reconcile latency, both kinds not Ready); the chart carries the same groups."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RULE = yaml.safe_load((REPO_ROOT / "deploy/monitoring/prometheusrule.yaml").read_text())
RUNBOOKS = (REPO_ROOT / "docs/runbooks.md").read_text()
BASE = "https://github.com/ecr-operator/ecr-operator/blob/main/docs/runbooks.md"


def rules() -> list[dict[str, Any]]:
    return [r for group in RULE["spec"]["groups"] for r in group["rules"]]


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the markdown's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_links_its_runbook() -> None:
    documented = anchors(RUNBOOKS)
    for rule in rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"{BASE}#{rule['alert'].lower()}", rule["alert"]
        page, anchor = urlsplit(url).path.partition("/blob/main/")[2], urlsplit(url).fragment
        assert (REPO_ROOT / page).is_file(), f"{url}: no {page} in the repository"
        assert anchor in anchors((REPO_ROOT / page).read_text()), f"{url}: docs/runbooks.md has no such section"
        assert rule["alert"].lower() in documented, f"docs/runbooks.md has no section {rule['alert']}"
    title = "runbooks-the-alerts-of-deploymonitoringprometheusruleyaml"
    assert {r["alert"].lower() for r in rules()} == documented - {title}, "a runbook for an alert that is gone"


def test_the_alerts_an_admin_expects() -> None:
    by_name = {r["alert"]: r["expr"] for r in rules()}
    assert 'result="error"' in by_name["EcrOperatorReconcileErrors"]
    assert "ecr_operator_registry_passes_total" in by_name["EcrOperatorReconcileErrors"], "both kinds' passes"
    assert "ecr_operator_reconcile_duration_seconds_bucket" in by_name["EcrOperatorReconcileSlow"]
    assert 'kind="EcrRepository"' in by_name["EcrRepositoryNotReady"]
    assert 'kind="EcrRegistry"' in by_name["EcrRegistryNotReady"]
    assert 'ecr_operator_image_findings{severity="CRITICAL"}' in by_name["EcrImagesWithCriticalFindings"]


def test_the_chart_carries_the_same_groups() -> None:
    copy = yaml.safe_load((REPO_ROOT / "charts/ecr-operator/files/alert-groups.yaml").read_text())
    assert copy == RULE["spec"], "run hack/sync-crds.sh"
    values = yaml.safe_load((REPO_ROOT / "charts/ecr-operator/values.yaml").read_text())
    assert values["metrics"]["prometheusRule"]["runbookBaseUrl"] == BASE
