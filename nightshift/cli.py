"""The operator's command line.

  nightshift demo [--scenario NAME] [--trigger ...]   heal a simulated fleet locally (no AWS account)
  nightshift start --group G [--instance I [--force]] [--dry-run]   start a remediation and follow it
  nightshift replay EXECUTION | --failed --since 24h         replay failed executions safely
  nightshift status                                           running/failed executions and held locks
  nightshift audit --group G | --instance I [--since 24h]     the audit trail (--json for machines)
  nightshift doctor [--group G] [--json] [--simulated]        preflight: what would make a remediation fail

start/replay/status/audit talk to AWS with your usual credentials; name the state machine with
--state-machine-arn, --stack (a deployed stack's outputs) or NIGHTSHIFT_REMEDIATE_STATE_MACHINE_ARN.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightshift.operations import OperatorError
from nightshift.scenarios import SCENARIOS


def _inflight(value: str) -> float | None:
    if value == "never":
        return None
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("--inflight must be >= 0 seconds, or 'never'")
    return seconds


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-machine-arn", help="the remediate state machine")
    parser.add_argument("--stack", help="a deployed Nightshift stack whose outputs name the state machine")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    _demo_parser(commands)

    start = commands.add_parser("start", help="start a remediation of one group and follow it")
    start.add_argument("--group", required=True)
    start.add_argument("--instance", help="heal this instance (still subject to every guard)")
    start.add_argument("--force", action="store_true",
                       help="with --instance: skip the metric evaluation (every guard still applies; the audit "
                            "records --requested-by as who forced it)")
    start.add_argument("--dry-run", action="store_true")
    start.add_argument("--reason", default="manual start from the CLI")
    start.add_argument("--requested-by", default="")
    start.add_argument("--no-wait", action="store_true", help="print the execution and return")
    start.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    _target(start)

    replay = commands.add_parser("replay", help="replay failed executions (redrive or a new linked execution)")
    replay.add_argument("execution", nargs="?", help="execution ARN or name")
    replay.add_argument("--failed", action="store_true", help="every replayable failure within --since")
    replay.add_argument("--since", default="24h")
    replay.add_argument("--group")
    _target(replay)

    status = commands.add_parser("status", help="running and failed executions, held locks")
    status.add_argument("--since", default="24h")
    status.add_argument("--json", action="store_true")
    _target(status)

    for verb, text in (("pause", "stop remediating a group until resumed"),
                       ("resume", "lift a pause (yours or the storm breaker's)")):
        control = commands.add_parser(verb, help=text)
        control.add_argument("group")
        if verb == "pause":
            control.add_argument("--reason", default="paused by an operator")
            control.add_argument("--by", default="")

    show = commands.add_parser("show", help="draw one execution: target groups, capacity and key events over time")
    show.add_argument("execution", help="execution ARN or name")
    show.add_argument("--out", type=Path, help="the file to write: .svg, or .html embedding the SVG "
                                               "(default out/<execution name>.svg)")
    _target(show)

    _doctor_parser(commands)
    audit = commands.add_parser("audit", help="the audit trail of a group or an instance")
    which = audit.add_mutually_exclusive_group(required=True)
    which.add_argument("--group")
    which.add_argument("--instance")
    audit.add_argument("--since", help="e.g. 24h, 7d")
    audit.add_argument("--json", action="store_true")
    return parser


def _demo_parser(commands: Any) -> None:
    demo = commands.add_parser("demo", help="heal a simulated fleet with the real state machine, locally")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    demo.add_argument("--size", type=int, default=12, help="instances in the fleet (default 12)")
    demo.add_argument("--delay", type=int, default=300, help="deregistration delay in seconds (default 300)")
    demo.add_argument("--inflight", type=_inflight, default=0.0,
                      help="seconds until in-flight requests finish after deregistration, or 'never'")
    demo.add_argument("--signal", choices=["ssm", "target_state"], default="ssm",
                      help="drain signal (default ssm: count the load balancer's connections on the registered ports)")
    demo.add_argument("--boot-signal", choices=["ssm", "none"], default="ssm")
    demo.add_argument("--scenario", choices=list(SCENARIOS), default="leak",
                      help="which failure to show (default leak): " + "; ".join(
                          f"{name}: {what}" for name, what in SCENARIOS.items()))
    demo.add_argument("--trigger", choices=["manual", "alarm", "schedule", "replay"], default="manual",
                      help="how the remediation starts (replay: a first run fails, then is replayed)")
    demo.add_argument("--dry-run", action="store_true", help="decide and audit, change nothing")
    demo.add_argument("--asg", action="store_true", help="the fleet is an Auto Scaling group (Standby, replace)")
    demo.add_argument("--broken-app", choices=["new-host-cures", "nothing-cures"],
                      help="the leaker's app fails after its reboot: watch the escalation ladder")
    demo.add_argument("--logs", type=Path, default=Path("out/demo-logs.jsonl"),
                      help="where the steps' JSON log lines go (default out/demo-logs.jsonl)")
    demo.add_argument("--timeline", type=Path, default=Path("out/demo-timeline.svg"),
                      help="where the picture of the run goes: .svg, or .html embedding it "
                           "(default out/demo-timeline.svg)")


def _doctor_parser(commands: Any) -> None:
    doctor = commands.add_parser("doctor", help="preflight: find what would make a remediation fail or do nothing")
    doctor.add_argument("--group", help="check only this group")
    doctor.add_argument("--json", action="store_true", help="one JSON object for scripts")
    source = doctor.add_mutually_exclusive_group()
    source.add_argument("--groups-file", type=Path, help="a groups declaration (JSON) to check")
    source.add_argument("--groups-parameter", help="the SSM parameter holding the groups declaration "
                                                   "(default: $NIGHTSHIFT_GROUPS_PARAMETER)")
    source.add_argument("--simulated", action="store_true",
                        help="check the demo's simulated fleet and group locally (no AWS account)")


def _demo(args: argparse.Namespace) -> int:
    from nightshift.demo import (
        DELAY_RANGE,
        LEAKING_INDEX,
        MIN_HEALTHY,
        MIN_SIZE,
        DemoOptions,
        fleet_spec,
    )
    from nightshift.scenarios import runner

    if args.size < MIN_SIZE:
        raise OperatorError(f"--size {args.size} is below the minimum of {MIN_SIZE} (the leaking instance is number "
                            f"{LEAKING_INDEX + 1} and {MIN_HEALTHY} others must stay healthy while it is out); "
                            f"use --size {MIN_SIZE} or more")
    low, high = DELAY_RANGE
    if not low <= args.delay <= high:
        raise OperatorError(f"--delay {args.delay}: a deregistration delay is {low}-{high} seconds (AWS's range); "
                            "use e.g. --delay 300")
    for option, path in (("--logs", args.logs), ("--timeline", args.timeline)):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OperatorError(f"{option} {path}: cannot create {path.parent} ({exc.strerror}); "
                                f"name a file in a directory you can write") from exc
    options = DemoOptions(size=args.size, delay=args.delay, inflight_seconds=args.inflight,
                          signal=args.signal, boot_signal=args.boot_signal, dry_run=args.dry_run,
                          log_path=args.logs, trigger=args.trigger, timeline_path=args.timeline,
                          auto_scaling=args.asg, broken_app=args.broken_app, scenario=args.scenario)
    try:
        fleet_spec(options)  # the simulator refuses a fleet it cannot build: one line, before anything runs
    except ValueError as exc:
        raise OperatorError(f"{exc}; see `nightshift demo --help`") from exc
    progress = None if args.json else print
    if progress and args.scenario in ("scale-in", "spot"):
        print(f"Draining an instance about to be terminated in a simulated fleet of {args.size} (drain signal "
              f"{args.signal}); moto runs the real drain.asl.json with virtual time.")
    elif progress:
        print(f"Healing a simulated fleet of {args.size} instances (trigger {args.trigger}, drain signal "
              f"{args.signal}); moto runs the real remediate.asl.json with virtual time.")
    run, summary = runner(args.scenario)
    result = run(options, progress)
    if args.json:
        print(json.dumps(result, default=str, indent=2))
    else:
        print(summary(result))
        print(f"  logs       {args.logs}")
    return 0 if result["status"] == "SUCCEEDED" else 1


def _sfn() -> Any:
    import boto3

    return boto3.client("stepfunctions")


def _start(args: argparse.Namespace) -> int:
    from nightshift import operations

    machine = operations.state_machine_arn(args.state_machine_arn, args.stack)
    request = operations.start_request(args.group, args.instance, args.dry_run, args.reason, args.requested_by,
                                       args.force)
    sfn = _sfn()
    arn = sfn.start_execution(stateMachineArn=machine, name=operations.manual_name(args.group),
                              input=json.dumps(request))["executionArn"]
    print(f"started {arn}")
    if args.no_wait:
        return 0
    from nightshift.progress import describe

    description: dict[str, Any] = {}
    try:
        for latest, events in operations.follow(sfn, arn, args.poll, timeout=6 * 3600):
            description = latest
            origin = description["startDate"].timestamp()
            for event in events:
                line = describe(event, origin)
                if line:
                    print(line)
    except KeyboardInterrupt:
        # Ctrl-C stops the following, not the remediation: say so, or a person believes they cancelled it.
        print(f"nightshift start: stopped following; {arn} is still running (`nightshift status` shows it; "
              "`aws stepfunctions stop-execution --execution-arn ...` stops it)", file=sys.stderr)
        return 130
    outcome = json.loads(description.get("output") or "{}").get("outcome", {})
    print(f"{description['status']}" + (f": {description.get('error')}: {description.get('cause')}"
                                        if description.get("error") else f" ({outcome.get('status', '-')})"))
    return 0 if description.get("status") == "SUCCEEDED" else 1


def _replay(args: argparse.Namespace) -> int:
    from nightshift import operations, replay

    machine = operations.state_machine_arn(args.state_machine_arn, args.stack)
    sfn = _sfn()
    if args.failed:
        targets = replay.failed_since(sfn, machine, operations.parse_duration(args.since), args.group)
    elif args.execution:
        targets = [operations.execution_arn(args.execution, machine)]
    else:
        raise OperatorError("replay: name an execution, or use --failed [--since 24h] [--group G]")
    if not targets:
        print("nothing to replay")
    code = 0
    for target in targets:
        try:
            result = replay.replay(sfn, target, remediate_arn=machine)
            print(f"{target} -> {result.how}: {result.execution_arn} ({result.note})")
        except replay.ReplayRefused as exc:
            print(f"{target}: not replayed: {exc}")
            code = 1
    return code


def _status(args: argparse.Namespace) -> int:
    from nightshift import operations
    from steps.store.lock import GroupLock

    machine = operations.state_machine_arn(args.state_machine_arn, args.stack)
    report = operations.status_report(_sfn(), machine, GroupLock, operations.parse_duration(args.since))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for title, rows in (("running", report["running"]), ("failed", report["failed"])):
        print(f"{title} executions ({len(rows)})")
        for row in rows:
            print(f"  {row['group'] or '-':<16} {row['status']:<10} {row['started']}  {row['name']}")
    print(f"paused groups ({len(report['paused'])})")
    for flag in report["paused"]:
        print(f"  {flag['group']:<16} since {flag['since']}  {flag['reason']}")
    print(f"held locks ({len(report['locks'])})")
    for lock in report["locks"]:
        stale = "" if lock["owner_status"] == "RUNNING" else "  (stale: owner not running)"
        print(f"  {lock['group']:<16} until {lock['expires_at']}  {lock['owner']}{stale}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from nightshift import operations
    from steps.store import audit

    since = None
    if args.since:
        since = (datetime.now(UTC) - operations.parse_duration(args.since)).timestamp()
    if args.group:
        records = [audit.as_dict(r) for r in audit.for_group(args.group, since)]
    else:
        records = [audit.as_dict(r) for r in audit.for_instance(args.instance)
                   if since is None or r.at >= since]
    if args.json:
        print(json.dumps(records, indent=2, default=str))
        return 0
    print(f"{'time (UTC)':<20} {'event':<17} {'instance':<20} {'trigger':<9} reason")
    for r in records:
        when = datetime.fromtimestamp(r["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when:<20} {r['event']:<17} {r['instance_id'] or '-':<20} {r['trigger']:<9} {r['reason']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    from nightshift import operations
    from nightshift.timeline import timeline_for_execution, write_timeline

    arn = args.execution
    machine = "" if arn.startswith("arn:") else operations.state_machine_arn(args.state_machine_arn, args.stack)
    arn = operations.execution_arn(arn, machine)
    try:
        model = timeline_for_execution(_sfn(), arn)
    except ClientError as exc:
        hint = ("; `nightshift status` lists the recent ones (check the name, and the region and stack it ran in)"
                if exc.response["Error"].get("Code") in {"ExecutionDoesNotExist", "InvalidArn"} else "")
        raise OperatorError(f"{arn}: {exc.response['Error'].get('Message') or exc}{hint}") from exc
    except ValueError as exc:
        raise OperatorError(str(exc)) from exc
    path = write_timeline(model, args.out or Path("out") / f"{arn.rsplit(':', 1)[-1]}.svg")
    print(f"wrote {path}: {model.title}, {model.status or 'status unknown'} "
          f"(reconstructed from the audit trail and the execution history)")
    return 0


def _pause(args: argparse.Namespace) -> int:
    from steps.core import groups
    from steps.core.reasons import Reason
    from steps.store import pause
    from steps.store.audit import AuditEntry, record

    # A pause of a group nobody declared would protect nothing (a typo): refuse it, naming the groups that exist.
    groups.reset()  # read the declaration as it is now, not a cached copy
    groups.group(args.group)
    now = datetime.now(UTC).timestamp()
    pause.pause(args.group, args.reason, now, args.by)
    record(AuditEntry(group=args.group, event=Reason.PAUSED, reason=f"paused: {args.reason}", at=now, trigger="manual",
                      details={"by": args.by}))
    print(f"{args.group} paused: {args.reason}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from steps.core.reasons import Reason
    from steps.store import pause
    from steps.store.audit import AuditEntry, record

    flag = pause.paused(args.group)
    if not pause.resume(args.group):
        print(f"{args.group} was not paused")
        return 0
    now = datetime.now(UTC).timestamp()
    record(AuditEntry(group=args.group, event=Reason.RESUMED, reason=f"resumed (was: {flag.reason if flag else '?'})",
                      at=now, trigger="manual"))
    print(f"{args.group} resumed")
    return 0


def _groups_source(args: argparse.Namespace) -> str | None:
    import os

    if args.groups_file:
        try:
            return str(args.groups_file.read_text())
        except OSError as exc:
            raise OperatorError(f"--groups-file {args.groups_file}: {exc.strerror}") from exc
    name = args.groups_parameter or os.environ.get("NIGHTSHIFT_GROUPS_PARAMETER")
    if name:
        import boto3
        from botocore.exceptions import ClientError

        try:
            return str(boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError as exc:
            raise OperatorError(f"groups parameter {name}: {exc.response['Error'].get('Code')}: "
                                f"{exc.response['Error'].get('Message')}") from exc
    return os.environ.get("NIGHTSHIFT_GROUPS") or None


def _doctor(args: argparse.Namespace) -> int:
    from nightshift import doctor

    if args.simulated:
        from nightshift.demo import simulated_doctor

        report = simulated_doctor(args.group)
    else:
        import boto3
        from botocore.exceptions import ClientError

        # The default session: what boto3.client() uses (and where the local runtime installs its answerers).
        session = boto3.DEFAULT_SESSION if boto3.DEFAULT_SESSION is not None else boto3.session.Session()
        if not session.region_name:
            raise OperatorError(NO_REGION)
        raw = _groups_source(args)
        try:
            account = session.client("sts").get_caller_identity()["Account"]
        except ClientError as exc:
            raise OperatorError(f"credentials refused: {exc.response['Error'].get('Message')}") from exc
        report = doctor.diagnose(raw, session.client, session.region_name, account, args.group)
    doctor.print_report(report, args.json)
    return 1 if report.failed else 0


COMMANDS = {"doctor": _doctor, "demo": _demo, "start": _start, "replay": _replay, "status": _status, "audit": _audit,
            "pause": _pause, "resume": _resume, "show": _show}


NO_REGION = "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION, or a profile's region with `aws configure`)"
NO_CREDENTIALS = ("no AWS credentials: configure a profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID "
                  "(`aws configure`)")
# Commands that reach AWS (the tables through PynamoDB, which falls back to us-east-1 rather than fail, so the
# region is checked before they run).
AWS_COMMANDS = frozenset({"start", "replay", "status", "audit", "pause", "resume", "show"})


def _require_region() -> None:
    import os

    import boto3

    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        # Lambda's and the AWS CLI's variable; boto3 reads only AWS_DEFAULT_REGION (or the profile).
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    session = boto3.DEFAULT_SESSION if boto3.DEFAULT_SESSION is not None else boto3.session.Session()
    if not (session.region_name or os.environ.get("AWS_DEFAULT_REGION")):
        raise OperatorError(NO_REGION)


def _store_error(exc: Exception) -> str:
    """PynamoDB wraps the botocore error (no credentials, a refused call) it met: name that one."""
    from botocore.exceptions import ClientError, NoCredentialsError

    cause = getattr(exc, "cause", None)
    if isinstance(cause, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        hint = (" (is NIGHTSHIFT_LOCK_TABLE / NIGHTSHIFT_AUDIT_TABLE the deployed stack's table, in this region?)"
                if error.get("Code") == "ResourceNotFoundException" else "")
        return f"AWS refused {cause.operation_name}: {error.get('Code')}: {error.get('Message')}{hint}"
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
    from pynamodb.exceptions import PynamoDBException

    from steps.core.exceptions import ConfigurationError

    args = _parser().parse_args(argv)
    try:
        if args.command in AWS_COMMANDS:
            _require_region()
        return COMMANDS[args.command](args)
    except (OperatorError, ConfigurationError) as exc:
        print(f"nightshift {args.command}: {exc}", file=sys.stderr)
        return 2
    except NoRegionError:
        print(f"nightshift {args.command}: {NO_REGION}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print(f"nightshift {args.command}: {NO_CREDENTIALS}", file=sys.stderr)
        return 2
    except PynamoDBException as exc:
        print(f"nightshift {args.command}: {_store_error(exc)}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"nightshift {args.command}: AWS refused {exc.operation_name}: {error.get('Code')}: "
              f"{error.get('Message')}", file=sys.stderr)
        return 2
    except BotoCoreError as exc:
        print(f"nightshift {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
