"""What one check of `outpost check` found: what holds, or what an operator must fix first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """What one check found about `subject`: what holds, or (`problem`) what does not."""

    subject: str
    said: str
    problem: bool = False

    @classmethod
    def refused(cls, subject: str, said: str) -> Finding:
        """A problem: what an operator must fix before starting."""
        return cls(subject, said, problem=True)
