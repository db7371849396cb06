"""The names of an environment (an env file's) that no setting reads, each with the closest
one that does: a misspelt SMTP_URLL would otherwise leave SMTP_URL at its default unsaid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from shared.settings.catalogue import BY_NAME
from shared.settings.foreign import foreign
from shared.settings.sms import SMS_HEADERS
from shared.sms_providers.template import references


def unknown_names(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each of `names` that no declared variable reads, nor the system or a library, with the
    closest declared one (None when none is close), in order. Given a mapping (an env file's
    variables), the names its SMS_HEADERS refers to (`${NAME}`) are read, so not unknown."""
    referred = set(references(SMS_HEADERS.raw(names))) if isinstance(names, Mapping) else set()
    return [
        (name, closest(name))
        for name in dict.fromkeys(names)
        if name not in BY_NAME and name not in referred and not foreign(name)
    ]


def closest(name: str) -> str | None:
    """The declared variable `name` most likely meant, in any case; None when none is close."""
    found = difflib.get_close_matches(name.upper(), list(BY_NAME), n=1)
    return found[0] if found else None


def described(name: str, closest: str | None) -> str:
    """The warning about one name: `SMTP_URLL is not a setting Outpost reads (did you mean
    SMTP_URL?)`."""
    hint = f" (did you mean {closest}?)" if closest else ""
    return f"{name} is not a setting Outpost reads{hint}"
