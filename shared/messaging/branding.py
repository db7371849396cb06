"""What every template may show of the adopting product, read by the relay and its render
workers (which load no more than the templates need)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Branding:
    """What every template may show of the adopting product (PRODUCT_NAME, APP_URL, …)."""

    product_name: str = "Outpost"
    app_url: str | None = None
    support_email: str | None = None
    logo_url: str | None = None
