"""`python -m nightshift.infra_check [check|translate|schema]`.

    check (default)   the pure-Python checks; exit 1 and one line per problem when any fails
    translate         write the CloudFormation translation of infra/template.yaml (build/template.cfn.json)
    schema            print the groups schema; --write updates infra/groups.schema.json, --check compares
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nightshift import infra_check
from nightshift.infra_check import schema


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nightshift.infra_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="checks (d)-(g): placeholders, functions, Retry, IAM wildcards")
    for command in (parser, check):
        command.add_argument("--template", type=Path, default=infra_check.TEMPLATE)
        command.add_argument("--statemachines", type=Path, default=infra_check.STATEMACHINE_DIR)
        command.add_argument("--translated", type=Path, default=None,
                             help="a translated template to check too (default: translate in memory when "
                                  "aws-sam-translator is importable)")
    translate = commands.add_parser("translate", help="SAM -> CloudFormation, offline")
    translate.add_argument("--template", type=Path, default=infra_check.TEMPLATE)
    translate.add_argument("--out", type=Path, default=infra_check.TRANSLATED)
    groups = commands.add_parser("schema", help="the groups declaration's JSON Schema")
    mode = groups.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {infra_check.GROUPS_SCHEMA.name}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the checked-in schema is stale")
    groups.add_argument("--path", type=Path, default=infra_check.GROUPS_SCHEMA)
    return parser


def _translated(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str, str | None]:
    """(translated template, its name in messages, a note when it could not be had)."""
    if args.translated is not None:
        return json.loads(args.translated.read_text()), str(args.translated), None
    try:
        from nightshift.infra_check.translate import translate
    except ImportError:  # pragma: no cover - depends on the environment
        return None, "", "translated template not checked: aws-sam-translator is not importable here"
    try:
        return translate(args.template), "translated template (in memory)", None
    except ImportError:
        return None, "", "translated template not checked: aws-sam-translator is not importable here"


def _check(args: argparse.Namespace) -> int:
    translated, name, note = _translated(args)
    report = infra_check.run_checks(args.template.resolve(), args.statemachines.resolve(), translated, name)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if note:
        print(f"infra-check: note: {note}", file=sys.stderr)
    if not report.ok:
        print(f"infra-check: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"infra-check: OK ({'; '.join(report.notes)})")
    return 0


def _translate(args: argparse.Namespace) -> int:
    from nightshift.infra_check.translate import translate

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(translate(args.template), indent=2, sort_keys=True) + "\n")
    print(f"infra-check: wrote {args.out}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    if args.write:
        schema.write(args.path)
        print(f"infra-check: wrote {args.path}")
        return 0
    if args.check:
        if schema.is_current(args.path):
            print(f"infra-check: {args.path.name} is current")
            return 0
        print(f"infra-check: {args.path} differs from steps.core.config.GroupsDocument; run "
              "`python -m nightshift.infra_check schema --write`", file=sys.stderr)
        return 1
    sys.stdout.write(schema.render(schema.generate()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "translate":
        return _translate(args)
    if args.command == "schema":
        return _schema(args)
    return _check(args)


if __name__ == "__main__":
    sys.exit(main())
