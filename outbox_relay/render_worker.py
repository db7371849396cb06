"""A render worker of the relay's (render_budget): renders an operator's templates in a process
of its own, so that a render past its budget can be killed.

Run as `python -m outbox_relay.render_worker`. Its first line on standard input is its
configuration (branding, TEMPLATES_DIR); then each line is a request, `{"names": [...],
"params": {...}}`, answered by one line, `{"texts": [...]}` or `{"error": "<one line naming the
file>"}`, after a `{"rendering": "<file>"}` every RENDER_SECONDS / 5 that the render runs, naming
the template file it is in: a render killed at its budget is refused naming that file (the HTML
part, an included file, a layout), not the message's first part. It exits at the end of its
input, so a relay that dies leaves none behind.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import IO, Any

from outbox_relay.render import TemplateError, Templates
from outbox_relay.render_budget import RENDER_MEMORY, RENDER_OUTPUT, RENDER_SECONDS
from shared.messaging.branding import Branding

# How often a worker says which template file a render that is still running is in.
_REPORT_SECONDS = RENDER_SECONDS / 5


class _Reports:
    """While a worker renders, says every _REPORT_SECONDS which template file it is in.

    A timer's signal, whose handler runs in the rendering thread between two steps of the
    template's code: it sees the frames of the file where the time goes.
    """

    def __init__(self, stdout: IO[str]) -> None:
        self._stdout = stdout
        self._rendering = False
        signal.signal(signal.SIGALRM, self._report)

    def __enter__(self) -> None:
        self._rendering = True
        signal.setitimer(signal.ITIMER_REAL, _REPORT_SECONDS, _REPORT_SECONDS)

    def __exit__(self, *_: object) -> None:
        # Before the answer is written: no report may follow it, nor cut into it.
        self._rendering = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _report(self, _signal: int, frame: FrameType | None) -> None:
        where = _template_file(frame) if self._rendering else None
        if where is not None:
            _answer(self._stdout, {"rendering": where})


def _template_file(frame: FrameType | None) -> str | None:
    """The file of the innermost template whose code runs in `frame` or its callers."""
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:
            return str(template.filename or template.name)
        frame = frame.f_back
    return None


def _serve(stdin: IO[str], stdout: IO[str]) -> None:
    """A worker's loop: its configuration, then one answer a request, until its input ends."""
    config = json.loads(stdin.readline())
    templates = Templates(Branding(**config["branding"]), Path(config["override"]), isolated=False)
    templates.compile_overridden()
    reports = _Reports(stdout)
    _answer(stdout, {"ready": True})
    for line in stdin:
        request = json.loads(line)
        with reports:
            try:
                texts = templates.render_here(request["names"], request["params"], RENDER_OUTPUT)
                answer: dict[str, Any] = {"texts": texts}
            except TemplateError as exc:
                answer = {"error": str(exc)}
        _answer(stdout, answer)


def _answer(stdout: IO[str], message: dict[str, Any]) -> None:
    stdout.write(json.dumps(message) + "\n")
    stdout.flush()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))
    _serve(sys.stdin, sys.stdout)
