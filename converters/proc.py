"""Run converter workers in a subprocess and turn crashes into ConversionError."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from toolkit.errors import ConversionError


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith("[F ") or "Check failed" in ln]
    return (fatal or lines or ["no output"])[-1][:300]


FULL_BELOW = 1 << 20     # a filesystem with less free space than this after a failure was full


def _full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path).free < FULL_BELOW
    except OSError:
        return False


def run_worker(argv: list[str], what: str, timeout: float = 600,
               writes: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` (a ``python -m`` worker or a tool); raise ConversionError on failure, or OSError(ENOSPC)
    naming ``writes`` when the worker failed because the disk it writes to is full (tools report that as
    a failed ``fwrite`` check or not at all)."""
    if argv and argv[0] == "-m":
        argv = [sys.executable, *argv]
    # a fixed hash seed: Paddle's passes walk sets of names, and their order decides the order of the ops
    # they insert (PTQ's quantize_linear ops): with it, one model gives the same bytes in every process
    env = os.environ | {"PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{what} did not finish within {timeout:.0f} s; "
                              "check the model or raise the timeout") from None
    if proc.returncode != 0:
        if writes is not None and _full(Path(writes).parent):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(writes))
        rc = proc.returncode
        how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        raise ConversionError(f"{what} {how}: {_last_line(proc.stderr + proc.stdout)}")
    return proc
