"""The mail providers: SMTP and the HTTP APIs, one module each behind registry.py."""
