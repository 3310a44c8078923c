"""Run converter workers in a subprocess and turn crashes into ConversionError."""
from __future__ import annotations

import signal
import subprocess
import sys

from toolkit.errors import ConversionError


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith("[F ") or "Check failed" in ln]
    return (fatal or lines or ["no output"])[-1][:300]


def run_worker(argv: list[str], what: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``argv`` (a ``python -m`` worker or a tool); raise ConversionError on failure."""
    if argv and argv[0] == "-m":
        argv = [sys.executable, *argv]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{what} did not finish within {timeout:.0f} s; "
                              "check the model or raise the timeout") from None
    if proc.returncode != 0:
        rc = proc.returncode
        how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        raise ConversionError(f"{what} {how}: {_last_line(proc.stderr + proc.stdout)}")
    return proc
