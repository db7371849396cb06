"""Every environment variable Outpost reads, declared once (`catalogue`), with the reference
`outpost settings` prints and the warning about an env file's names that no setting reads."""

from shared.settings.catalogue import VARIABLES
from shared.settings.unknown import described, unknown_names
from shared.settings.variable import ConfigError, Variable

__all__ = ["VARIABLES", "ConfigError", "Variable", "described", "unknown_names"]
