"""Nightshift's Lambda steps, one short stateless module per Task state, grouped by the workflow they serve.

- ``steps.remediate``: the Tasks of statemachine/remediate.asl.json (heal one instance of one group).
- ``steps.sweep``: the Tasks of statemachine/sweep.asl.json (put back what failed runs left out, then start
  a remediation per group).
- ``steps.triggers``: the handlers EventBridge invokes, outside any state machine (the alarm trigger).
- ``steps.core``: what every step shares: the handler wrapper, configuration, events, errors, reason
  codes, observability, the clock and the groups declaration.
- ``steps.domain`` (pure decisions), ``steps.aws`` (boto3 ports), ``steps.store`` (DynamoDB models).

The shared packages never import a workflow package (tests/unit/test_layout.py). docs/design.md "Layout".
"""
