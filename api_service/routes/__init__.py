"""HTTP blueprints: thin handlers that parse, call a service and shape the answer."""
