"""What operators do to delivery, for the command line, the admin API and the dashboard alike."""

from shared.operations.audit import AuditEntry, audit_log
from shared.operations.dead_letters import (
    FILTER_CHOICES,
    MAX_PAGE,
    AttemptRecord,
    DeadFilter,
    DeadLetter,
    MessageDetail,
    ProviderEventRecord,
    count_dead,
    list_dead,
    show,
)
from shared.operations.erasure import erase, list_suppressions, remove_suppressions
from shared.operations.figures import (
    Backlog,
    HourlyOutcome,
    Stats,
    StatusRow,
    backlog,
    hourly_outcomes,
    stats,
)
from shared.operations.retention import Purged, purge
from shared.operations.retries import (
    BULK_RETRY_CAP,
    RetryOutcome,
    RetryResult,
    count_retried,
    discard,
    retry,
    retry_all,
)
from shared.operations.stranded import (
    Reissue,
    ReissueOutcome,
    StrandedAccount,
    reissue_activation,
    stranded,
)

__all__ = [
    "BULK_RETRY_CAP",
    "FILTER_CHOICES",
    "MAX_PAGE",
    "AttemptRecord",
    "AuditEntry",
    "Backlog",
    "DeadFilter",
    "DeadLetter",
    "HourlyOutcome",
    "MessageDetail",
    "ProviderEventRecord",
    "Purged",
    "Reissue",
    "ReissueOutcome",
    "RetryOutcome",
    "RetryResult",
    "Stats",
    "StatusRow",
    "StrandedAccount",
    "audit_log",
    "backlog",
    "count_dead",
    "count_retried",
    "discard",
    "erase",
    "hourly_outcomes",
    "list_dead",
    "list_suppressions",
    "purge",
    "reissue_activation",
    "remove_suppressions",
    "retry",
    "retry_all",
    "show",
    "stats",
    "stranded",
]
