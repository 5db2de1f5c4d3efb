"""The operator's command line: `nightshift demo` (local, no AWS account needed)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _inflight(value: str) -> float | None:
    if value == "never":
        return None
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("--inflight must be >= 0 seconds, or 'never'")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nightshift", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="heal a simulated fleet with the real state machine, locally")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    demo.add_argument("--size", type=int, default=12, help="instances in the fleet (default 12)")
    demo.add_argument("--delay", type=int, default=300, help="deregistration delay in seconds (default 300)")
    demo.add_argument("--inflight", type=_inflight, default=0.0,
                      help="seconds until in-flight requests finish after deregistration, or 'never'")
    demo.add_argument("--signal", choices=["connections_metric", "ssm", "target_state"],
                      default="connections_metric", help="drain signal (default connections_metric)")
    demo.add_argument("--boot-signal", choices=["ssm", "none"], default="ssm")
    demo.add_argument("--dry-run", action="store_true", help="decide and audit, change nothing")
    demo.add_argument("--logs", type=Path, default=Path("out/demo-logs.jsonl"),
                      help="where the steps' JSON log lines go (default out/demo-logs.jsonl)")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from nightshift.demo import DemoOptions, run_demo, summary

    if args.size < 4:
        print("nightshift demo: --size must be at least 4 (3 AZs and spare capacity)", file=sys.stderr)
        return 2
    args.logs.parent.mkdir(parents=True, exist_ok=True)
    options = DemoOptions(size=args.size, delay=args.delay, inflight_seconds=args.inflight,
                          signal=args.signal, boot_signal=args.boot_signal, dry_run=args.dry_run,
                          log_path=args.logs)
    progress = None if args.json else print
    if progress:
        print(f"Healing a simulated fleet of {args.size} instances (drain signal {args.signal}); "
              "moto runs the real remediate.asl.json with virtual time.")
    result = run_demo(options, progress)
    if args.json:
        print(json.dumps(result, default=str, indent=2))
    else:
        print(summary(result))
        print(f"  logs       {args.logs}")
    return 0 if result["status"] == "SUCCEEDED" else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
