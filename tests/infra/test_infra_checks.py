"""The offline checks (d)-(g) of nightshift.infra_check: they pass on the real files and fail, naming the
file, state or statement, on deliberately broken copies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nightshift import infra_check
from nightshift.infra_check import Report, run_checks
from nightshift.infra_check.checks import check_iam_wildcards, mutating_wildcard

ROOT = Path(__file__).resolve().parents[2]


class Copy:
    """A scratch copy of infra/template.yaml and statemachine/*.asl.json, laid out like the repository."""

    def __init__(self, base: Path) -> None:
        self.root = base
        (base / "infra").mkdir()
        shutil.copy(infra_check.TEMPLATE, base / "infra" / "template.yaml")
        shutil.copytree(infra_check.STATEMACHINE_DIR, base / "statemachine",
                        ignore=shutil.ignore_patterns("examples"))

    @property
    def template(self) -> Path:
        return self.root / "infra" / "template.yaml"

    def edit_template(self, old: str, new: str) -> None:
        text = self.template.read_text()
        assert text.count(old) == 1, f"expected exactly one {old!r} in the template"
        self.template.write_text(text.replace(old, new))

    def edit_asl(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.root / "statemachine" / name
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document, indent=2))

    def check(self, translated: dict[str, Any] | None = None) -> Report:
        return run_checks(self.template, self.root / "statemachine", translated, "translated.json", self.root)


@pytest.fixture
def copy(tmp_path: Path) -> Copy:
    return Copy(tmp_path)


def messages(report: Report) -> list[str]:
    return [str(p) for p in report.problems]


def test_the_real_template_asl_and_catalogue_pass_every_check() -> None:
    # GIVEN the repository as it is, and its CloudFormation translation
    from nightshift.infra_check.translate import translate

    # WHEN every check runs THEN none complains
    report = run_checks(translated=translate(infra_check.TEMPLATE))
    assert messages(report) == []


def test_an_unmodified_copy_passes(copy: Copy) -> None:
    assert messages(copy.check()) == []


# -- (d) placeholders ---------------------------------------------------------------------------------
def test_a_placeholder_without_substitution_is_named_with_its_file(copy: Copy) -> None:
    # GIVEN the template stops substituting the lock table's name
    copy.edit_template("        LockTableName: !Ref LockTable\n", "")
    # THEN the check names the ASL file, the placeholder and the state machine to fix
    assert messages(copy.check()) == [
        "[placeholders] statemachine/remediate.asl.json: ${LockTableName}: no DefinitionSubstitutions entry in "
        "infra/template.yaml Resources.RemediateStateMachine; add LockTableName"]


def test_a_substitution_the_asl_does_not_use_is_named(copy: Copy) -> None:
    copy.edit_template("        LockTableName: !Ref LockTable\n",
                       "        LockTableName: !Ref LockTable\n        StaleTableName: !Ref AuditTable\n")
    assert messages(copy.check()) == [
        "[placeholders] infra/template.yaml: Resources.RemediateStateMachine.DefinitionSubstitutions.StaleTableName: "
        "statemachine/remediate.asl.json has no ${StaleTableName}; remove the entry or use it"]


def test_an_asl_file_no_state_machine_deploys_is_named(copy: Copy) -> None:
    shutil.copy(copy.root / "statemachine" / "remediate.asl.json", copy.root / "statemachine" / "orphan.asl.json")
    assert "[placeholders] statemachine/orphan.asl.json: (whole file): no state machine in infra/template.yaml " \
           "deploys it (DefinitionUri); add one" in messages(copy.check())


# -- (e) Lambda placeholders -> functions -------------------------------------------------------------
def _add_task(document: dict[str, Any], resource: str) -> None:
    document["States"]["Frobnicate the instance"] = {
        "Type": "Task", "Resource": resource, "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": True}


def test_a_lambda_placeholder_with_no_function_fails(copy: Copy) -> None:
    # GIVEN the ASL calls a function the template does not define
    copy.edit_asl("remediate.asl.json", lambda d: _add_task(d, "${FrobnicateFunctionArn}"))
    found = messages(copy.check())
    # THEN both the missing substitution and the missing function are named, with the Task state
    assert ("[lambda-placeholders] statemachine/remediate.asl.json: ${FrobnicateFunctionArn} "
            "(Task 'Frobnicate the instance'): maps to no function: Resources.RemediateStateMachine has no "
            "substitution") in found
    assert any(m.startswith("[placeholders] statemachine/remediate.asl.json: ${FrobnicateFunctionArn}") for m in found)


def test_a_lambda_placeholder_substituted_with_something_else_fails(copy: Copy) -> None:
    copy.edit_template("CheckBootFunctionArn: !GetAtt CheckBootFunction.Arn",
                       "CheckBootFunctionArn: !GetAtt LockTable.Arn")
    assert messages(copy.check()) == [
        "[lambda-placeholders] infra/template.yaml: Resources.RemediateStateMachine.DefinitionSubstitutions."
        "CheckBootFunctionArn: names LockTable, which is not a function of the template"]


def test_a_function_name_instead_of_its_arn_fails(copy: Copy) -> None:
    copy.edit_template("CheckBootFunctionArn: !GetAtt CheckBootFunction.Arn",
                       "CheckBootFunctionArn: !Ref CheckBootFunction")
    assert messages(copy.check()) == [
        "[lambda-placeholders] infra/template.yaml: Resources.RemediateStateMachine.DefinitionSubstitutions."
        "CheckBootFunctionArn: !Ref gives the function's name, not its ARN; use !GetAtt <Function>.Arn"]


def test_a_function_running_another_steps_handler_fails(copy: Copy) -> None:
    copy.edit_template("Handler: steps.remediate.check_boot.handler", "Handler: steps.remediate.check_health.handler")
    found = messages(copy.check())
    assert ("[lambda-placeholders] infra/template.yaml: Resources.CheckBootFunction.Properties.Handler: is "
            "'steps.remediate.check_health.handler'; CheckBootFunctionArn is steps.remediate.check_boot.handler in "
            "nightshift/functions.py") in found
    assert ("[lambda-placeholders] infra/template.yaml: Resources: no function has Handler "
            "steps.remediate.check_boot.handler (catalogue entry 'check-boot')") in found


def test_a_lambda_placeholder_outside_the_catalogue_fails(copy: Copy) -> None:
    # GIVEN a function the template defines and substitutes, but the catalogue does not know
    copy.edit_asl("remediate.asl.json", lambda d: _add_task(d, "${FrobnicateFunctionArn}"))
    copy.edit_template("        LockTableName: !Ref LockTable\n",
                       "        LockTableName: !Ref LockTable\n"
                       "        FrobnicateFunctionArn: !GetAtt CheckBootFunction.Arn\n")
    assert messages(copy.check()) == [
        "[lambda-placeholders] statemachine/remediate.asl.json: ${FrobnicateFunctionArn} (Task 'Frobnicate the "
        "instance'): not in nightshift/functions.py STEP_FUNCTIONS: the local runtime cannot route it; add the "
        "step to the catalogue"]


# -- (f) Retry on every Task ---------------------------------------------------------------------------
def test_a_task_without_retry_is_named(copy: Copy) -> None:
    copy.edit_asl("remediate.asl.json", lambda d: d["States"]["Reboot the instance"].pop("Retry"))
    assert messages(copy.check()) == [
        "[retry] statemachine/remediate.asl.json: state 'Reboot the instance': Task without Retry: add one for "
        "throttling and transient errors"]


def test_a_task_inside_a_map_without_retry_is_named_with_its_path(copy: Copy) -> None:
    def drop(document: dict[str, Any]) -> None:
        document["States"]["Remediate each group"]["ItemProcessor"]["States"]["Remediate the group"]["Retry"] = []

    copy.edit_asl("sweep.asl.json", drop)
    assert messages(copy.check()) == [
        "[retry] statemachine/sweep.asl.json: state 'Remediate each group/Remediate the group': Task without "
        "Retry: add one for throttling and transient errors"]


# -- (g) IAM wildcard actions ---------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["*", "ec2:*", "ec2:Reboot*", "ssm:Send*", "kms:GenerateDataKey*",
                                    "elasticloadbalancing:*Targets", "ec2:D*", "*:Describe*", "ec2:Reboot?nstances"])
def test_wildcards_that_can_match_a_mutating_call_are_refused(action: str) -> None:
    assert mutating_wildcard(action)


@pytest.mark.parametrize("action", ["ec2:Describe*", "ssm:Get*", "s3:List*", "ec2:describe*",
                                    "ec2:RebootInstances", "dynamodb:PutItem"])
def test_read_only_wildcards_and_named_actions_are_allowed(action: str) -> None:
    assert not mutating_wildcard(action)


@pytest.mark.parametrize("action", ["*", "ec2:*"])
def test_a_mutating_wildcard_in_a_function_policy_is_named_with_its_statement(copy: Copy, action: str) -> None:
    sid = "            - Sid: RebootManagedInstances\n              Effect: Allow\n"
    copy.edit_template(f"{sid}              Action: ec2:RebootInstances\n", f'{sid}              Action: "{action}"\n')
    assert messages(copy.check()) == [
        "[iam-wildcards] infra/template.yaml: Resources.RebootInstanceFunction.Properties.Policies[0].Statement[2] "
        f"(Sid RebootManagedInstances): wildcard action {action!r} can match mutating calls; "
        "list the actions it needs"]


def test_a_mutating_wildcard_in_a_key_policy_is_found_too(copy: Copy) -> None:
    copy.edit_template("              - kms:CancelKeyDeletion\n", "              - kms:*\n")
    found = messages(copy.check())
    assert len(found) == 1 and found[0].startswith(
        "[iam-wildcards] infra/template.yaml: Resources.NotificationKey.Properties.KeyPolicy.Statement[0] "
        "(Sid AccountAdministersAndUsesTheKey): wildcard action 'kms:*'")


def test_allow_with_not_action_is_refused(copy: Copy) -> None:
    copy.edit_template("              Action: ec2:RebootInstances\n", "              NotAction: iam:*\n")
    assert messages(copy.check()) == [
        "[iam-wildcards] infra/template.yaml: Resources.RebootInstanceFunction.Properties.Policies[0].Statement[2] "
        "(Sid RebootManagedInstances): Allow with NotAction grants every other action, mutating ones included"]


def test_the_translated_template_is_checked_as_well(copy: Copy) -> None:
    # GIVEN a translation in which a generated role grants a wildcard (e.g. from a SAM policy template)
    translated = {"Resources": {"GeneratedRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:*"],
                                                              "Resource": "*"}]}}]}}}}
    # THEN the problem names the translated file and the statement
    assert messages(copy.check(translated)) == [
        "[iam-wildcards] translated.json: Resources.GeneratedRole.Properties.Policies[0].PolicyDocument.Statement[0]: "
        "wildcard action 'dynamodb:*' can match mutating calls; list the actions it needs"]


def test_deny_statements_may_use_wildcards() -> None:
    template = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}}]}}}}
    assert check_iam_wildcards(template, "t") == []


# -- the command line ------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nightshift.infra_check", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_the_command_exits_zero_on_the_real_files() -> None:
    result = _cli("check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("infra-check: OK (")


def test_the_command_exits_non_zero_and_names_each_problem(copy: Copy) -> None:
    copy.edit_asl("remediate.asl.json", lambda d: d["States"]["Check target health"].pop("Retry"))
    result = _cli("check", "--template", str(copy.template), "--statemachines", str(copy.root / "statemachine"))
    assert result.returncode == 1
    assert "state 'Check target health': Task without Retry" in result.stderr
    assert result.stderr.rstrip().endswith("infra-check: 1 problem(s)")


def test_statements_of_a_policy_with_a_conditional_statement_are_checked(copy: Copy) -> None:
    # GIVEN a wildcard next to an !If [HasEbsKmsKeys, statement, AWS::NoValue] (the KMS grant) in one policy
    copy.edit_template("              Action: [ec2:StopInstances, ec2:StartInstances]\n",
                       '              Action: "ec2:*"\n')
    found = messages(copy.check())
    # THEN it is found all the same: a conditional entry must not hide the policy's other statements
    assert len(found) == 1 and "StopStartInstanceFunction" in found[0] and "'ec2:*'" in found[0], found


def test_conditional_statements_are_checked_as_statements() -> None:
    from nightshift.infra_check import TEMPLATE
    from nightshift.infra_check.cfn_yaml import load
    from nightshift.infra_check.checks import policy_statements

    sids = [s.where for s in policy_statements(load(TEMPLATE)) if "LetEc2UseTheVolumeKeysOnStart" in s.where]
    assert len(sids) == 4
