"""Offline checks of the deployment: the SAM template, the ASL files and the step catalogue agree.

`python -m nightshift.infra_check` runs the pure-Python checks (see checks.py); `infra/check.sh` runs
them together with cfn-lint, asl-validator and checkov. Nothing here talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightshift.infra_check import cfn_yaml
from nightshift.infra_check.checks import (
    Problem,
    check_iam_wildcards,
    check_lambda_placeholders,
    check_placeholders,
    check_retries,
    policy_statements,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
STATEMACHINE_DIR = ROOT / "statemachine"
TRANSLATED = ROOT / "build" / "template.cfn.json"
GROUPS_SCHEMA = ROOT / "infra" / "groups.schema.json"
GROUPS_EXAMPLE = ROOT / "infra" / "groups.example.json"

__all__ = ["Problem", "Report", "run_checks"]


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_checks(template_path: Path = TEMPLATE, statemachine_dir: Path = STATEMACHINE_DIR,
               translated: dict[str, Any] | None = None, translated_name: str = "translated template",
               root: Path | None = ROOT) -> Report:
    """Checks (d)-(g) on the raw template and, when given, (g) on its CloudFormation translation."""
    template = cfn_yaml.load(template_path)
    asl_files = sorted(statemachine_dir.glob("*.asl.json"))
    report = Report()
    report.problems += check_placeholders(template, template_path, asl_files, root)
    report.problems += check_lambda_placeholders(template, template_path, root=root)
    report.problems += check_retries(asl_files, root)
    shown = str(template_path.relative_to(root)) if root and template_path.is_relative_to(root) else str(template_path)
    report.problems += check_iam_wildcards(template, shown)
    statements = sum(1 for _ in policy_statements(template))
    report.notes.append(f"{len(asl_files)} ASL file(s), {statements} IAM statement(s) in {shown}")
    if translated is not None:
        report.problems += check_iam_wildcards(translated, translated_name)
        statements = sum(1 for _ in policy_statements(translated))
        report.notes.append(f"{statements} IAM statement(s) in {translated_name}")
    return report
