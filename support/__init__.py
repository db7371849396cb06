"""What the tests and the benches share: processes, databases, SMTP and SMS servers, bulk rows."""
