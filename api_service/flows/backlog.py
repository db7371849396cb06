"""The queue as /metrics exports it: the API's own reading, so a fleet whose relays are all gone
still shows its backlog growing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from api_service.flows.dependencies import Dependencies
from shared import operations
from shared.operations.figures import Backlog


def backlog_now(deps: Dependencies, now: datetime) -> Backlog | None:
    """The queue now, with the tallies folded if every relay has stopped folding them; None
    while the database does not answer (the metrics of the pool are still exported)."""
    try:
        with deps.unit_of_work() as uow:
            operations.catch_up_tallies(uow.connection, now)
            backlog = operations.backlog(uow.connection, now)
            uow.commit()
    except SQLAlchemyError:
        return None
    return backlog
