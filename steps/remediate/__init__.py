"""The remediation workflow, statemachine/remediate.asl.json: one module per Lambda Task, plus what only
they use.

Task state -> module: "Validate the request" validate_request (request_origin: where the request says it
comes from), "Acquire the group lock" acquire_group_lock, "Select the worst instance" select_worst_instance,
"Check capacity" check_capacity, "Deregister from every target group" deregister_instance, "Announce the
start" and "Announce the outcome" notify, "Check whether the drain is over" check_drain, "Reboot the
instance" reboot_instance, "Check whether the instance rebooted" check_boot, "Register in every target
group" register_instance, "Check target health" check_health, "Choose the next escalation rung"
choose_escalation, "Stop and start the instance" stop_start_instance, "Have its Auto Scaling group replace
it" replace_instance, "Leave it out of service for a person" leave_out_instance, "Put the instance back in
service" restore_service, "Resume the failed remediation" resume_remediation. ("Release the group lock" and
"Release the instance claim" are DynamoDB service integrations: no module.)

Shared by those Tasks: blockers (the facts the blockers read, and the checks before an instance leaves
service; the decisions are in steps/domain/blockers/), lease (renewing the group lease in poll loops),
put_back (putting an instance back in service) and standby (Auto Scaling Standby around a remediation).

Cross-use: the sweep's reconciler (steps.sweep.reconcile, "Put back what failed runs left out") also puts
instances back and ends Standby through put_back and standby; they live here, where their main states are.
"""
