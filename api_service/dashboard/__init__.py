"""The operators' dashboard at /admin: server-rendered HTML over shared.operations."""

# Importing the pages registers them on the blueprint.
from api_service.dashboard import confirm, endpoints, invitations, pages
from api_service.dashboard.access import bp

__all__ = ["bp", "confirm", "endpoints", "invitations", "pages"]
