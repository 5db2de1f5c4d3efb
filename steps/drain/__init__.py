"""The termination drain, statemachine/drain.asl.json: an instance a scale-in lifecycle hook or a Spot
interruption is taking away leaves its group's target groups and finishes its requests first; termination is
never blocked by us.

Task state -> module: "Prepare the termination drain" prepare_termination_drain, "Check whether the drain is
over" check_termination_drain (the remediation's drain check, steps/remediate/check_drain.py ``drain_turn``,
plus lifecycle action heartbeats), "Let the instance go" complete_lifecycle_action. The trigger
(steps/triggers/termination_trigger.py) starts one execution per event.
"""
