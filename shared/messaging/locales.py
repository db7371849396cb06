"""The languages messages are written in: the packaged ones, any a TEMPLATES_DIR adds (a folder
`<purpose>/<locale>/` holding every part of every purpose), the best match of a request's
Accept-Language, and a tag's fallback to its language, then to English (`pt-BR` -> `pt` -> `en`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from shared.vocabulary import PURPOSES

PACKAGED = ("en", "fr")
DEFAULT = "en"
# The files of one message in one language, by the channel that sends it.
PARTS = {"email": ("subject.txt", "body.txt", "body.html"), "sms": ("sms.txt",)}
# A BCP 47 tag as far as a folder name and a request need it: a language, then subtags.
TAG_PATTERN = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$"
_TAG = re.compile(TAG_PATTERN)
LONGEST_TAG = 35  # RFC 5646's advice for what an implementation keeps
_Q = re.compile(r"^q=([01](?:\.\d{0,3})?)$")


def added(templates_dir: str | Path | None) -> tuple[str, ...]:
    """The locales TEMPLATES_DIR adds, sorted; ValueError, one line naming what is missing,
    when a locale's folder lacks a part of a purpose."""
    if not templates_dir:
        return ()
    root = Path(templates_dir)
    tags = sorted(
        {
            folder.name
            for purpose in PURPOSES
            if (root / purpose).is_dir()
            for folder in (root / purpose).iterdir()
            if folder.is_dir() and folder.name not in PACKAGED
        }
    )
    for tag in tags:
        if not _TAG.match(tag) or len(tag) > LONGEST_TAG:
            raise ValueError(f"{tag}: not a BCP 47 language tag (such as de or pt-BR)")
        missing = [
            f"{purpose}/{tag}/{part}"
            for purpose in PURPOSES
            for parts in PARTS.values()
            for part in parts
            if not (root / purpose / tag / part).is_file()
        ]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise ValueError(f"locale {tag} lacks {', '.join(missing[:3])}{more}")
    return tuple(tags)


def chain(tag: str) -> list[str]:
    """A tag, then each shorter one: `pt-BR` -> [`pt-BR`, `pt`]."""
    subtags = tag.split("-")
    return ["-".join(subtags[:n]) for n in range(len(subtags), 0, -1)]


def pick(tag: str, available: tuple[str, ...]) -> str | None:
    """The available locale `tag` falls back to (any case), None when none is."""
    spelled = {locale.lower(): locale for locale in available}
    return next((spelled[t.lower()] for t in chain(tag) if t.lower() in spelled), None)


@lru_cache(maxsize=256)
def rendered_in(tag: str, available: tuple[str, ...]) -> str:
    """The locale a message of `tag` is written in: its fallback, else English; ValueError for
    what is no language tag (never a path). Remembered for the last tags asked: the relay asks
    for every message."""
    if not _TAG.match(tag):
        raise ValueError(f"not a locale: {tag!r}")
    return pick(tag, available) or DEFAULT


def best_match(accept_language: str, available: tuple[str, ...]) -> str:
    """The available locale a request's Accept-Language prefers (RFC 9110 12.5.4: by weight,
    then in order; `*` and malformed entries ignored), else English."""
    weighted = []
    for order, entry in enumerate(accept_language.split(",")):
        tag, *params = (part.strip() for part in entry.split(";"))
        quality = next((_Q.match(p) for p in params if _Q.match(p)), None)
        weight = float(quality.group(1)) if quality else 1.0
        if _TAG.match(tag) and weight > 0:
            weighted.append((-weight, order, tag))
    for _, _, tag in sorted(weighted):
        chosen = pick(tag, available)
        if chosen is not None:
            return chosen
    return DEFAULT
