"""The account flows: where a request becomes one transaction (a unit of work)."""
