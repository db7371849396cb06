"""Code both processes share: configuration, schema, codes, secrets and the outbox writer."""
