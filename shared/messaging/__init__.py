"""Messages: the outbox, each row's status and what a client is told of it, what may be sent to
whom, and the lifecycle events."""
