"""`outbox-relay dead|stats|stranded|suppressions|erase|purge`: the operators' commands."""
