"""What every step shares, whatever workflow it serves: the ``@step`` handler wrapper and its
``StepContext`` (entrypoint), configuration (config: the groups declaration's model and the settings read
from the environment), the events the state machines pass (events), the project's errors (exceptions), the
audit reason codes (reasons), logging/metrics/tracing (observability), the injectable clock (clock), the
groups declaration loader (groups) and the settings container (container).

Implements no state of its own, and imports nothing from steps.remediate, steps.sweep or steps.triggers.
"""
