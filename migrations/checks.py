"""Changing a CHECK constraint in a revision, on PostgreSQL and in place on SQLite.

Shared by revisions, so it only grows: a revision must do tomorrow what it did when it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def among(column: str, names: tuple[str, ...]) -> str:
    """The CHECK expression `column IN ('a', 'b', …)`, in `names`' order."""
    return "{} IN ({})".format(column, ", ".join(f"'{name}'" for name in names))


def change_check(table: str, name: str, old: str, new: str) -> None:
    """Replace `table`'s check `name`, `old`, by `new`.

    On PostgreSQL the new constraint is added NOT VALID and then validated, which reads the
    table without blocking a running service's writes. On SQLite it is changed in the table's
    stored definition rather than by rebuilding the table (and the views over it): a CHECK
    changes nothing on disk; a downgrade deletes first what the narrower one would refuse.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(name, table, type_="check")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({new}) NOT VALID")
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        return
    stored = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table")
    definition = bind.execute(stored, {"table": table}).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"{table}'s {name} constraint is not the one this revision expects")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :table"),
        {"sql": definition.replace(old, new), "table": table},
    )
    # Tells every connection, this one included, to read the schema again.
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))
