"""The database: its tables, engines and drivers, bounded connections, the keyring kept in it and
the throttles counted in it."""
