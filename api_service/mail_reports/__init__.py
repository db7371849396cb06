"""Mail providers' webhooks (Mailgun, SendGrid, Postmark, Resend) read into ProviderEvents,
each verified as its provider documents: one module a provider, listed in `registry`."""
