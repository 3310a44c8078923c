"""What the CLI prints on failure: one line on stderr, and with ``--json`` one JSON object on stdout.

Failures are described here, not in library code: typed ``MliteError``s carry their own message;
operating-system errors (disk full, read-only filesystem, permissions) are named with their path;
anything else is a bug, reported in one line with its traceback saved to a file.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass

from .errors import MliteError
from .signals import Terminated

EXIT_OS = 1          # the environment refused (disk full, read-only, permissions)
EXIT_BUG = 70        # EX_SOFTWARE: an internal error


@dataclass
class Failure:
    message: str
    kind: str
    exit_code: int

    def to_dict(self) -> dict:
        return {"error": {"message": self.message, "kind": self.kind, "exit_code": self.exit_code}}


_OS_ADVICE = {
    errno.ENOSPC: ("disk full", "free space there or write elsewhere (--out, MLITE_HOME, TMPDIR)"),
    errno.EDQUOT: ("disk quota exceeded", "free space there or write elsewhere (--out, MLITE_HOME, TMPDIR)"),
    errno.EROFS: ("read-only filesystem", "write elsewhere: pass a writable --out (or set MLITE_HOME / TMPDIR)"),
    errno.EACCES: ("permission denied", "write elsewhere or fix the permissions"),
    errno.EPERM: ("operation not permitted", "write elsewhere or fix the permissions"),
}


_STAGING = re.compile(r"/\.([^/]+)\.(?:partial|old)-\d+-[^/]+")


def os_failure(e: OSError) -> Failure:
    """One line naming the path (the published one, not the staging copy), what the system said and what to do."""
    path = _STAGING.sub(r"/\1", str(e.filename)) if e.filename is not None else "(unnamed file)"
    what, advice = _OS_ADVICE.get(e.errno, (e.strerror or type(e).__name__, "check the path and rerun"))
    name = errno.errorcode.get(e.errno, "OSError") if e.errno else "OSError"
    return Failure(message=f"{str(path)!r}: {what}; {advice}", kind=f"OSError.{name}", exit_code=EXIT_OS)


def _save_traceback(e: BaseException) -> str | None:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    try:
        fd, path = tempfile.mkstemp(prefix="mlite-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path
    except OSError:
        return None


def describe(e: BaseException) -> Failure:
    """The user-facing failure for any exception that reached the CLI."""
    if isinstance(e, MliteError):
        return Failure(message=str(e), kind=type(e).__name__, exit_code=e.exit_code)
    if isinstance(e, Terminated):
        return Failure(
            message="terminated (SIGTERM); nothing half-written was kept, rerun the same command to continue",
            kind="Terminated", exit_code=143)
    if isinstance(e, KeyboardInterrupt):
        return Failure(message="interrupted; nothing half-written was kept, rerun the same command to continue",
                       kind="Interrupted", exit_code=130)
    if isinstance(e, OSError):
        return os_failure(e)
    saved = _save_traceback(e)
    where = f"traceback in {saved}" if saved else "set MLITE_DEBUG=1 for the traceback"
    first = (str(e).splitlines() or [""])[0][:200]
    return Failure(message=f"internal error {type(e).__name__}: {first} ({where}); please report it",
                   kind="InternalError", exit_code=EXIT_BUG)


class JsonChannel:
    """While a ``--json`` command runs, fd 1 points at stderr, so nothing but our JSON (from Paddle's C++
    code, a library's print, a crash dump) can reach stdout; ``emit`` writes to the real stdout."""

    def __init__(self) -> None:
        self._saved: int | None = None

    def __enter__(self) -> "JsonChannel":
        with contextlib.suppress(ValueError, OSError):
            sys.stdout.flush()
        self._saved = os.dup(1)
        os.dup2(2, 1)
        return self

    def emit(self, data) -> None:
        text = json.dumps(data, indent=2, default=str) + "\n"
        fd = self._saved if self._saved is not None else 1
        view = memoryview(text.encode())
        while view:
            view = view[os.write(fd, view):]

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ValueError, OSError):
            sys.stdout.flush()
        if self._saved is not None:
            os.dup2(self._saved, 1)
            os.close(self._saved)
            self._saved = None
