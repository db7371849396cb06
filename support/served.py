"""A stand-in server started and stopped as a context: `with Server(...) as server:`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Served(ABC):
    """Started on entering, stopped on leaving, whatever the block raised."""

    @abstractmethod
    def start(self) -> None:
        """Start serving."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and release what it holds."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
