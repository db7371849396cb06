"""What a permanent failure refused, as data: `outbox.refusal` (shared.messaging.refusals.Refusal),
set by the relay and by providers' reports, read by the client's failure reason and the suppression
list; earlier rows get it from the rules that read it from `last_error` until now.

Those rules ran on a dead letter's words: an SMTP 5.1.x reply, or Twilio's and Vonage's "number
refused" / "recipient opted out"; a message a provider's report bounced without a dead reason was
refused by a complaint, or else a hard bounce. Only dead and bounced rows are read, and only
those whose words can match, in batches; the column is added without rewriting the table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must not change when the code does.
_ADDRESS = re.compile(r"\bSMTP 5\d\d 5\.1\.\d{1,3}\b|^(?:Twilio|Vonage) \d+ number refused\b")
_OPTED_OUT = re.compile(r"^(?:Twilio|Vonage) \d+ recipient opted out\b")
BATCH = 1000


def upgrade() -> None:
    op.add_column("outbox", sa.Column("refusal", sa.String(16)))
    bind = op.get_bind()
    worded = bind.execute(
        sa.text(
            "SELECT id, last_error FROM outbox WHERE dead_reason = 'permanent_error'"
            " AND (last_error LIKE '%5.1.%' OR last_error LIKE 'Twilio %'"
            " OR last_error LIKE 'Vonage %')"
        )
    ).all()
    refusals: dict[str, list[int]] = {"address": [], "opted_out": []}
    for row_id, error in worded:
        if _ADDRESS.search(error):
            refusals["address"].append(row_id)
        elif _OPTED_OUT.search(error):
            refusals["opted_out"].append(row_id)
    mark = sa.text("UPDATE outbox SET refusal = :refusal WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    for refusal, ids in refusals.items():
        for start in range(0, len(ids), BATCH):
            bind.execute(mark, {"refusal": refusal, "ids": ids[start : start + BATCH]})
    op.execute(
        "UPDATE outbox SET refusal = CASE WHEN EXISTS (SELECT 1 FROM provider_events e"
        " WHERE e.outbox_id = outbox.id AND e.type = 'complaint')"
        " THEN 'complaint' ELSE 'hard_bounce' END"
        " WHERE status = 'bounced' AND dead_reason IS NULL"
    )


def downgrade() -> None:
    # The older code reads the same facts from `last_error`, which every row keeps.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE outbox DROP COLUMN refusal")
    else:
        op.drop_column("outbox", "refusal")
