"""`nightshift demo`: heal the leaking instance of a simulated fleet with the real state machine.

Builds a fleet like the seed's (two target groups, HTTPS on 443 and HTTP on 80 forwarding to the app's
port 8080, 12 instances over 3 AZs,
one leaking to ~85 % memory, a 300 s deregistration delay), runs one remediation in moto with
virtual time, shows progress, and reports what happened and how long it took.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from nightshift.progress import describe as _describe
from nightshift.progress import seconds_since as _seconds
from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec

Progress = Callable[[str], None]
LEAKING_INDEX = 5
MIN_HEALTHY = 5  # the demo group's floor: the leaker may leave only when 5 others stay healthy
MIN_SIZE = max(LEAKING_INDEX + 1, MIN_HEALTHY + 1)  # the leaker exists, and the floor lets it out
DELAY_RANGE = (0, 3600)  # a target group's deregistration_delay.timeout_seconds range (AWS)


@dataclass(frozen=True)
class DemoOptions:
    size: int = 12
    delay: int = 300
    inflight_seconds: float | None = 0.0  # None: in-flight requests never finish
    signal: str = "ssm"
    boot_signal: str = "ssm"
    dry_run: bool = False
    log_path: Path | None = None
    trigger: str = "manual"  # manual | alarm | schedule | replay
    timeline_path: Path | None = None  # where to draw the run (.svg, or .html embedding it)
    auto_scaling: bool = False  # the fleet is an Auto Scaling group (Standby around the reboot)
    # The leaker's app fails after its reboot: "new-host-cures" (stop/start heals it) or "nothing-cures"
    # (the ladder goes on: ASG replace with --asg, else leave out). None: the reboot heals.
    broken_app: str | None = None
    scenario: str = "leak"  # which failure to show: nightshift/scenarios (SCENARIOS)


def group_declaration(built: Any, options: DemoOptions) -> dict[str, Any]:
    declaration: dict[str, Any] = built.group_declaration()
    declaration.update({
        "metric": {"namespace": "CWAgent", "name": "mem_used_percent", "threshold": 65.0,
                   "breaching_datapoints": 3, "evaluation_datapoints": 5},
        "min_healthy": MIN_HEALTHY,
        "min_healthy_percent": 50,
        "drain": {"signal": options.signal, "poll_seconds": 10, "quiet_checks": 2, "floor_seconds": 5},
        "boot": {"signal": options.boot_signal},
    })
    return declaration


def fleet_spec(options: DemoOptions) -> FleetSpec:
    leaking = InstanceSpec(leak_to_percent=85.0, inflight_seconds=options.inflight_seconds,
                           app_fails=options.broken_app is not None,
                           new_host_cures=options.broken_app == "new-host-cures")
    return FleetSpec(name="web", size=options.size, deregistration_delay=options.delay,
                     default=InstanceSpec(inflight_seconds=options.inflight_seconds),
                     leaking={LEAKING_INDEX: leaking},
                     auto_scaling=AutoScalingSpec(min_size=max(1, options.size // 2)) if options.auto_scaling else None)


def step_timeline(history: list[dict[str, Any]], origin: float) -> list[dict[str, Any]]:
    """Each distinct state in the order first entered, with its first entry and last exit."""
    steps: dict[str, dict[str, Any]] = {}
    for event in history:
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            step = steps.setdefault(entered["name"], {"name": entered["name"],
                                                      "start": _seconds(event["timestamp"], origin),
                                                      "end": None, "visits": 0})
            step["visits"] += 1
        if exited and exited["name"] in steps:
            steps[exited["name"]]["end"] = _seconds(event["timestamp"], origin)
    return list(steps.values())


def alarm_event(alarm_name: str, instance_id: str, at: datetime) -> dict[str, Any]:
    """A real-shaped EventBridge "CloudWatch Alarm State Change" event for a memory alarm on one instance."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1", "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm_name}"],
        "detail": {
            "alarmName": alarm_name,
            "state": {"value": "ALARM", "reason": "Threshold Crossed: 3 out of the last 3 datapoints > 65.0",
                      "timestamp": stamp},
            "previousState": {"value": "OK", "reason": "", "timestamp": stamp},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {
                "metric": {"namespace": "CWAgent", "name": "mem_used_percent",
                           "dimensions": {"InstanceId": instance_id}}, "period": 60, "stat": "Average"}}]},
        },
    }


class _InjectedFault(Exception):
    """The demo's one-off failure, to show a replay (not in any Retry list, so the run fails)."""


def start_by_trigger(rt: LocalRuntime, simulator: Any, options: DemoOptions, progress: Progress | None,
                     ) -> tuple[str, dict[str, Any]]:
    """Start the remediation the way the chosen trigger does; returns its execution and what led to it."""
    say = progress or (lambda _line: None)
    request = {"group": "web", "reason": "nightshift demo", "requested_by": "demo", "dry_run": options.dry_run}
    if options.trigger == "alarm":
        from nightshift.functions import BY_NAME
        from nightshift.runtime.lambda_router import LambdaContext

        leaker = simulator.leaking_instance_ids()[0]
        # The alarm exists in CloudWatch, in ALARM: the remediation re-reads it as its evidence.
        cloudwatch = rt.client("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName="nightshift-web-memory", Namespace="CWAgent", MetricName="mem_used_percent", Statistic="Average",
            Period=60, EvaluationPeriods=3, Threshold=65.0, ComparisonOperator="GreaterThanThreshold",
            Dimensions=[{"Name": "InstanceId", "Value": leaker}])
        cloudwatch.set_alarm_state(AlarmName="nightshift-web-memory", StateValue="ALARM",
                                   StateReason="Threshold Crossed: 3 out of the last 3 datapoints > 65.0")
        event = alarm_event("nightshift-web-memory", leaker, datetime.fromtimestamp(rt.clock.now(), UTC))
        trigger = BY_NAME["nightshift-alarm-trigger"].handler()
        # EventBridge invokes the function: a Lambda context, as the runtime's Lambda router passes to the steps
        outcome = trigger(event, LambdaContext("nightshift-alarm-trigger", invoked_function_arn=rt.router.arn(
            "nightshift-alarm-trigger")))
        again = trigger(event, LambdaContext("nightshift-alarm-trigger", invoked_function_arn=rt.router.arn(
            "nightshift-alarm-trigger")))
        say(f"  alarm nightshift-web-memory in ALARM for {leaker}: started {outcome['execution_arn']}; "
            f"the same event again started {'another' if again['started'] else 'nothing'}")
        return str(outcome["execution_arn"]), {"alarm_started": outcome["started"],
                                               "duplicate_started": again["started"]}
    if options.trigger == "schedule":
        sweep = rt.wait(rt.start({}, machine="sweep"), timeout=300)
        summary = json.loads(sweep["output"])["summary"]
        child = summary["groups"]["web"]["execution"]
        say(f"  scheduled sweep {sweep['status']}: " + ", ".join(
            f"{g} {v['verdict']}" for g, v in summary["groups"].items()))
        return str(child), {"sweep": sweep["executionArn"], "summary": summary}
    if options.trigger == "replay":
        from nightshift.replay import replay

        def fail_once(name: str, _event: dict[str, Any]) -> None:
            if name == "nightshift-check-health" and not failed:
                failed.append(name)
                raise _InjectedFault("injected by the demo: the health check step crashed")

        failed: list[str] = []
        rt.router.before.append(fail_once)
        first = rt.run(request)
        say(f"  first run {first['status']} ({first.get('error')}); replaying it")
        result = replay(rt.client("stepfunctions"), first["executionArn"])
        say(f"  replay: {result.how} ({result.note}) -> {result.execution_arn}")
        return result.execution_arn, {"failed_run": first["executionArn"], "replay": result.how}
    return rt.start(request, name=f"demo-{int(rt.clock.now())}"), {}


MUTATING_CALLS = ("elbv2.DeregisterTargets", "elbv2.RegisterTargets", "ec2.RebootInstances", "ec2.StopInstances",
                  "ec2.StartInstances", "ssm.SendCommand", "autoscaling.EnterStandby", "autoscaling.ExitStandby",
                  "autoscaling.SetInstanceHealth")


def aws_state(rt: LocalRuntime, simulator: Any, built: Any) -> str:
    """What AWS would show of the fleet, canonically serialised: target health in every target group,
    every instance's state (and Auto Scaling lifecycle), and how many mutating calls it has received."""
    elbv2 = rt.client("elbv2")
    ec2 = rt.client("ec2")
    health = {arn: sorted((d["Target"]["Id"], d["Target"].get("Port"), d["TargetHealth"]["State"])
                          for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])
              for arn in built.target_group_arns}
    # DescribeInstanceStatus, not DescribeInstances: the simulator (not moto) knows stopped instances.
    instances = sorted((s["InstanceId"], s["InstanceState"]["Name"]) for s in ec2.describe_instance_status(
        InstanceIds=built.instance_ids, IncludeAllInstances=True)["InstanceStatuses"])
    if built.auto_scaling_group:
        members = rt.client("autoscaling").describe_auto_scaling_instances(InstanceIds=built.instance_ids)
        instances += sorted((m["InstanceId"], m["LifecycleState"]) for m in members["AutoScalingInstances"])
    calls = {name: simulator.api_calls().get(name, 0) for name in MUTATING_CALLS}
    return json.dumps({"target_health": health, "instances": instances, "mutating_calls": calls}, sort_keys=True)


# A scenario's own steps before the remediation it shows (e.g. an earlier run that first sees a failure, then
# time passing): called with the runtime, the simulator, the built fleet and the progress callback.
Warmup = Callable[[LocalRuntime, Any, Any, "Progress | None"], dict[str, Any]]


def run_demo(options: DemoOptions, progress: Progress | None = None, *, fleet: FleetSpec | None = None,
             declaration: Callable[[Any, DemoOptions], dict[str, Any]] | None = None,
             warmup: Warmup | None = None) -> dict[str, Any]:
    """Run one remediation on a simulated fleet. A scenario (nightshift/scenarios) may pass its own fleet, its
    own group declaration and a warm-up; without them this is the default leak demo."""
    from steps.store import audit, lock

    wall_started = time.perf_counter()
    log_file: IO[str] | None = options.log_path.open("w") if options.log_path else None
    try:
        with LocalRuntime(log_stream=log_file) as rt:
            simulator, built = rt.add_fleet(fleet if fleet is not None else fleet_spec(options))
            rt.declare_groups([(declaration or group_declaration)(built, options)])
            warmed = warmup(rt, simulator, built, progress) if warmup is not None else None
            origin = rt.clock.now()
            before = aws_state(rt, simulator, built)
            arn, prelude = start_by_trigger(rt, simulator, options, progress)
            seen = 0
            description: dict[str, Any] = {}
            for latest in rt.follow(arn, timeout=300):
                description = latest
                history = rt.history(arn)
                if progress:
                    for event in history[seen:]:
                        line = _describe(event, origin)
                        if line:
                            progress(line)
                seen = len(history)
            history = rt.history(arn)
            after = aws_state(rt, simulator, built)
            simulated = rt.clock.now() - origin
            records = [audit.as_dict(r) for r in audit.for_group("web")]
            timeline = None
            if options.timeline_path:
                from nightshift.timeline import timeline_of_local_run, write_timeline

                model = timeline_of_local_run(simulator, built, history, records, arn)
                if model is not None:  # None: no instance was selected (nothing to do, lock held)
                    timeline = str(write_timeline(model, options.timeline_path))
            selected_records = [r for r in records if r["event"] == "SELECTED"]
            drained = next((r for r in reversed(records) if r["event"] == "DRAINED"), None)
            selected = selected_records[-1] if selected_records else None
            result = {
                "scenario": options.scenario,
                "status": description.get("status"),
                "execution_arn": arn,
                "instance_id": selected["instance_id"] if selected else None,
                "expected_instance_id": (simulator.leaking_instance_ids() or [None])[0],
                "selection": selected["details"] if selected else None,
                "simulated_seconds": round(simulated, 3),
                "wall_seconds": round(time.perf_counter() - wall_started, 3),
                "deregistration_delay": options.delay,
                "drain_seconds": drained["details"]["drain_seconds"] if drained else None,
                "drain_ended_by": drained["details"]["ended_by"] if drained else None,
                "drain_signal": options.signal,
                "steps": step_timeline(history, origin),
                "audit": records,
                "lambda_seconds": round(rt.router.handler_seconds(), 3),
                "lambda_invocations": len(rt.router.invocations),
                "state_transitions": sum(1 for e in history if e.get("stateEnteredEventDetails")),
                "lock_released": lock.holder("web") is None,
                "reboots": {i: len(simulator.reboots(i)) for i in built.instance_ids if simulator.reboots(i)},
                "trigger": options.trigger,
                "timeline": timeline,
                "dry_run": options.dry_run,
                "aws_state_before": hashlib.sha256(before.encode()).hexdigest(),
                "aws_state_after": hashlib.sha256(after.encode()).hexdigest(),
                "aws_state_unchanged": before == after,
                "plan": next((r for r in records if r["event"] == "DRY_RUN"), None),
                "prelude": prelude,
                "outcome": (json.loads(description["output"]).get("outcome") if description.get("output")
                            else None),
                "error": description.get("error"),
                "cause": description.get("cause"),
            }
            if warmed is not None:
                result["warmup"] = warmed
    finally:
        if log_file:
            log_file.close()
    return result


def summary(result: dict[str, Any]) -> str:
    lines = [f"Remediation {result['status']}"]
    sel = result.get("selection") or {}
    if result["instance_id"]:
        lines.append(f"  instance   {result['instance_id']} (the simulator leaked {result['expected_instance_id']})")
        if sel.get("criterion", "metric") == "metric":
            lines.append(f"  why        {sel.get('metric')} = {sel.get('value')} > threshold {sel.get('threshold')}"
                         f" in {sel.get('breaching')} of the last {sel.get('of_last')} datapoints")
        else:  # chosen by an alarm's own evaluation, by force, or by a failing criterion: the audit says why
            why = next((r["reason"] for r in result["audit"] if r["event"] == "SELECTED"), "")
            lines.append(f"  why        criterion {sel['criterion']}: {why}")
    if result["drain_seconds"] is not None:
        saved = result["deregistration_delay"] - result["drain_seconds"]
        lines.append(f"  drain      {result['drain_seconds']:.0f} s, ended by {result['drain_ended_by']} "
                     f"({result['drain_signal']} signal); the seed sleeps the whole "
                     f"{result['deregistration_delay']} s delay: {saved:.0f} s saved")
    lines.append("  steps (simulated seconds since start):")
    for step in result["steps"]:
        end = "" if step["end"] is None else f"-{step['end']:7.1f}"
        visits = f" x{step['visits']}" if step["visits"] > 1 else ""
        lines.append(f"    {step['start']:7.1f}{end}  {step['name']}{visits}")
    lines.append(f"  time       {result['simulated_seconds']:.0f} s simulated in {result['wall_seconds']:.1f} s "
                 f"of wall time; {result['lambda_seconds']:.2f} s of Lambda handler time over "
                 f"{result['lambda_invocations']} invocations; {result['state_transitions']} states entered")
    outcome = result.get("outcome") or {}
    if outcome.get("status"):
        extra = {k: v for k, v in outcome.items() if k in ("code", "replacement", "tried")}
        lines.append(f"  outcome    {outcome['status']}" + (f" {extra}" if extra else ""))
    lines.append(f"  lock       {'released' if result['lock_released'] else 'STILL HELD'}")
    if result.get("timeline"):
        lines.append(f"  timeline   {result['timeline']} (target groups, capacity and key events over time)")
    if result["dry_run"]:
        same = "byte-identical" if result["aws_state_unchanged"] else "CHANGED"
        lines.append(f"  dry run    AWS state before and after: {same} (sha256 {result['aws_state_after'][:16]}...)")
    lines.append("  audit trail:")
    for record in result["audit"]:
        lines.append(f"    {record['event']:<17} {record['reason']}")
    if result.get("error"):
        lines.append(f"  error      {result['error']}: {result['cause']}")
    return "\n".join(lines)


def simulated_doctor(only_group: str | None = None, options: DemoOptions | None = None) -> Any:
    """`nightshift doctor --simulated`: the preflight against the demo's fleet and group, locally."""
    from nightshift import doctor
    from nightshift.runtime.runner import ACCOUNT, GROUPS_PARAMETER

    options = options or DemoOptions()
    with LocalRuntime(log_stream=io.StringIO()) as rt:
        _simulator, built = rt.add_fleet(fleet_spec(options))
        rt.declare_groups([group_declaration(built, options)])
        raw = rt.client("ssm").get_parameter(Name=GROUPS_PARAMETER)["Parameter"]["Value"]
        return doctor.diagnose(raw, rt.client, rt.region, ACCOUNT, only_group)
