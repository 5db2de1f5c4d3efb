"""Errors a step raises on purpose. The class name is the Step Functions error name (``errorType``),
so the ASL's Retry and Catch match on these names: keep them stable."""

from __future__ import annotations


class NightshiftError(Exception):
    """Base of every deliberate failure."""


class InvalidRequest(NightshiftError):
    """The execution input is wrong, or a step's input lacks what the state machine always gives it at that point
    (a contract check: ``StepContext.require``, never ``assert``, which ``python -O`` removes). Never retried:
    the message names the field and the fix; a Task's Catch (States.ALL) takes the restore path."""


class ConfigurationError(NightshiftError):
    """The groups declaration or the environment is wrong. Never retried."""


class AwsThrottled(NightshiftError):
    """AWS asked us to slow down. Retried by the state machine with back-off."""


class AwsUnavailable(NightshiftError):
    """A transient AWS fault (5xx, connection reset, timeout). Retried by the state machine."""

    # True when nothing failed: the instance is not running yet (e.g. started again after an interrupted
    # stop/start); a restore Task retries it, the sweep's reconciler leaves it for its next run.
    waiting: bool = False


class AwsCallFailed(NightshiftError):
    """AWS refused the call for a reason retrying won't change (access denied, not found...)."""


class MetricListingTooLarge(NightshiftError):
    """Listing a metric's series (ListMetrics) reached its page cap or time budget before the end: the
    selection stops rather than judge a truncated group. Not retried (the listing would be as long again);
    audited as FAILED, nothing touched. The message names the metric, the pages read and the fix."""


class AgentNotOnline(NightshiftError):
    """SSM answered SendCommand with InvalidInstanceId: the SSM Agent is not running or not registered (e.g.
    the OS is down during a reboot or a stop). For a boot check that means "not yet"."""


class LifecycleConflict(NightshiftError):
    """The remediation record moved under us (another execution, or an illegal transition)."""


class CapacityLost(NightshiftError):
    """Capacity fell below the minimum after the instance left service: put it back rather than reboot."""


class BootNotConfirmed(NightshiftError):
    """The instance did not prove it rebooted and came back before the boot deadline."""


class HealthNotRestored(NightshiftError):
    """The instance did not become healthy in every target group before the health deadline."""


class RungTimedOut(NightshiftError):
    """An escalation rung did not heal the instance before its deadline: the ladder tries the next rung."""


class EscalationExhausted(NightshiftError):
    """No rung is left to try (or none may run): the instance goes back in service and someone is paged."""


class LockLost(NightshiftError):
    """The group lock is no longer ours (taken over as stale): stop and put the instance back."""


class GroupPaused(NightshiftError):
    """The group was paused after the capacity check: stop before the next mutating call, put it back."""


class InstanceTerminating(NightshiftError):
    """The instance is being terminated (scale-in lifecycle hook, Spot interruption): the termination drain owns
    it now. The remediation stops, puts nothing back and releases its lock (steps/drain/)."""
