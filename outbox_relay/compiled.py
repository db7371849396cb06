"""The message templates' compiled code, kept for the process: a Templates built again (each
relay a test builds, a check after a start) compiles none of them twice."""

from __future__ import annotations

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class CompiledTemplates(BytecodeCache):
    """Jinja's code of each template, by name and file (Jinja's key), checked against its
    source's checksum as it loads: a file changed since is parsed and compiled anew, so the
    sandbox's check of what a template names still runs on every source it loads.

    For environments configured alike only (render.Templates'): the code depends on the
    options it was compiled under.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill `bucket` with the code kept under its key, if any."""
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the code Jinja just compiled."""
        self._code[bucket.key] = bucket.bytecode_to_string()


# Every render.Templates of the process shares it.
COMPILED = CompiledTemplates()
