"""The render budget of an operator's templates (TEMPLATES_DIR): each render runs in a worker
process of the relay's, which is killed at RENDER_SECONDS and cannot grow past RENDER_MEMORY,
and whose output stops at RENDER_OUTPUT.

A process, not a deadline checked inside Jinja: a template can spin, or allocate gigabytes in
one filter call, without reaching any point where a check could run, and a Python thread cannot
be stopped from outside. The packaged templates are ours, tested, and render in the relay's own
process; only a render that reads an operator's file pays the round trip to a worker.

The worker itself is `outbox_relay.render_worker`, which says what it reads and answers.
"""

from __future__ import annotations

import json
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shared.messaging.branding import Branding

RENDER_SECONDS = 0.5
RENDER_OUTPUT = 256 * 1024
# The address space a worker may take: Python, Jinja and a template's data, with room to spare.
RENDER_MEMORY = 1024 * 1024 * 1024
# Workers of one relay: a render takes about a millisecond, so two serve every sender while a
# template that spins holds one for its half second.
WORKERS = 2
# How long a new worker may take to start (importing Jinja, reading the templates).
_START_SECONDS = 30.0


class RenderRefused(ValueError):
    """A render that failed or went past its budget: one line naming the file."""


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, branding: Branding, override: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "outbox_relay.render_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._send({"branding": asdict(branding), "override": str(override)})
        if self._receive(_START_SECONDS) != {"ready": True}:
            self.kill()
            raise RuntimeError("a template render worker did not start")

    def render(self, names: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """The rendered templates, or RenderRefused naming the file the render was last said to
        be in; past the budget the worker is killed."""
        self._send({"names": list(names), "params": dict(params)})
        deadline = time.monotonic() + RENDER_SECONDS
        where = _one_of(names)
        answer = self._receive(RENDER_SECONDS)
        while answer is not None and "rendering" in answer:
            where = str(answer["rendering"])
            answer = self._receive(deadline - time.monotonic())
        if answer is None:
            died = not self.alive
            self.kill()
            if died:
                raise RenderRefused(f"{where}: its render failed (the worker died)")
            raise RenderRefused(f"{where}: takes more than {RENDER_SECONDS} s to render")
        if "error" in answer:
            raise RenderRefused(str(answer["error"]))
        texts: list[str] = answer["texts"]
        return texts

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def kill(self) -> None:
        """Stop the worker at once."""
        if self.alive:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()

    def _receive(self, seconds: float) -> dict[str, Any] | None:
        """The worker's next line, or None when it gives none within `seconds` (or died)."""
        stdout = self._process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], max(seconds, 0.0))
        if not readable:
            return None
        line = stdout.readline()
        if not line:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer


class RenderWorkers:
    """The relay's render workers, each lent to one sender at a time; one killed for going past
    its budget is replaced before the next render, outside any render's time."""

    def __init__(self, branding: Branding, override: Path, workers: int = WORKERS) -> None:
        self._branding = branding
        self._override = override
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._made: list[_Worker] = []
        self._lock = threading.Lock()
        for _ in range(workers):
            self._idle.put(None)  # a place for a worker, started on first use

    def render(self, names: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """Render `names` with `params` in a worker, under the budget."""
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = self._start()
            return worker.render(names, params)
        except RenderRefused:
            raise
        except (OSError, ValueError) as exc:
            # A worker that died or spoke nonsense (out of memory, say): the render failed.
            if worker is not None:
                worker.kill()
            raise RenderRefused(
                f"{_one_of(names)}: its render failed ({type(exc).__name__})"
            ) from None
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            made, self._made = self._made, []
        for worker in made:
            worker.kill()

    def _start(self) -> _Worker:
        worker = _Worker(self._branding, self._override)
        with self._lock:
            self._made = [w for w in self._made if w.alive] + [worker]
        return worker


def _one_of(names: Sequence[str]) -> str:
    """The files of a render, when which of them is at fault is not known."""
    return names[0] if len(names) == 1 else f"one of {', '.join(names)}"
