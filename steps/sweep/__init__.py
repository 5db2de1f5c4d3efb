"""The sweep workflow, statemachine/sweep.asl.json: one module per Lambda Task.

Task state -> module: "Put back what failed runs left out" reconcile, "List the configured groups"
list_groups, "Summarise the sweep" summarise_sweep. ("Remediate the group" starts the remediation state
machine, a Step Functions service integration: no module.)

The reconciler puts instances back with steps.remediate.put_back and steps.remediate.standby, the same
code the remediation's restore path runs.
"""
