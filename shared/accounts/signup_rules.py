"""Who may sign up, as rules on an email address's domain alone (SIGNUP_DOMAINS_ALLOWED,
SIGNUP_DOMAINS_DENIED, SIGNUP_DENY_DISPOSABLE): never on whether an account holds it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from disposable_email_domains import blocklist


@dataclass(frozen=True)
class SignupRules:
    """The domains an email address may be, may not be, and whether disposable ones are
    refused; a domain covers its subdomains."""

    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()
    deny_disposable: bool = False

    def refusal(self, email: str) -> str | None:
        """Why the application takes no account at `email`, in words for its user; None when
        it does."""
        domain = email.rpartition("@")[2].lower()
        if self.allowed and not _covered(domain, self.allowed):
            return "This application takes no sign-up with an address of this domain."
        if _covered(domain, self.denied):
            return "This application takes no sign-up with an address of this domain."
        if self.deny_disposable and _covered(domain, disposable()):
            return "A disposable address cannot be used: use one you will keep."
        return None


def _covered(domain: str, domains: frozenset[str]) -> bool:
    """Whether `domain` is one of `domains` or a subdomain of one."""
    labels = domain.split(".")
    return any(".".join(labels[start:]) in domains for start in range(len(labels)))


@cache
def disposable() -> frozenset[str]:
    """The disposable-mail domains of the maintained list (the disposable-email-domains
    package, updated as its upstream list is), read once."""
    return frozenset(blocklist)


NO_RULES = SignupRules()
