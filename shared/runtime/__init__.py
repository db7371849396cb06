"""The process around the work: its logs, its traces, the version it runs."""
