"""SIGTERM behaves like Ctrl-C in the CLI: the same cleanup runs, nothing half-written is kept.

Two things get in the way, both handled here:
- Paddle installs C handlers for SIGTERM when it is imported; they print a "C++ Traceback" dump on stdout
  and exit without running Python's cleanup. Our handlers are put back after the import.
- A signal raised inside the import of a C extension (numpy's C API users: sklearn, scipy, paddle, ...)
  is turned by that extension into an ImportError with a printed traceback. So the imports of heavy
  packages are *held*: a signal arriving meanwhile is delivered (raised) once the outermost one is done.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import signal
import sys
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Top-level packages whose import runs C extensions (or installs C signal handlers): held while they import.
HEAVY = frozenset({"paddle", "paddleclas", "paddleslim", "paddle2onnx", "paddlelite", "onnx", "onnxsim",
                   "onnxruntime", "numpy", "scipy", "sklearn", "cv2", "PIL", "matplotlib"})


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (CI timeout, ``docker stop``, systemd)."""


_state = {"held": 0, "pending": None, "settled": False, "installed": False}
_hooks: list = []


def on_interrupt(fn) -> None:
    """Call ``fn()`` when a signal is about to be raised (e.g. stop the work threads and child processes do)."""
    if fn not in _hooks:
        _hooks.append(fn)


def _interrupt(signum: int) -> KeyboardInterrupt:
    for fn in list(_hooks):
        fn()
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handler(signum, frame):
    if _state["held"]:
        _state["pending"] = signum       # raised when the held section ends
        return
    raise _interrupt(signum)


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _arm() -> None:
    """Our handlers, once ``install()`` asked for them (a library caller's own handlers are left alone)."""
    if _main() and _state["installed"] and not _state["settled"]:
        for s in SIGNALS:
            signal.signal(s, _handler)


@contextlib.contextmanager
def held():
    """Defer SIGTERM/SIGINT until the block ends (nested blocks: until the outermost ends); our handlers are
    re-armed afterwards, whatever the block installed. The OS-level mask covers the time a foreign C handler
    is live; the pending flag covers signals the handler sees meanwhile (e.g. delivered to another thread)."""
    if not _main():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNALS))
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1
        _arm()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)   # a signal blocked meanwhile reaches _handler now
        if not _state["held"] and _state["pending"] is not None and not _state["settled"]:
            signum, _state["pending"] = _state["pending"], None
            raise _interrupt(signum)


class _HoldHeavyImports(importlib.abc.MetaPathFinder):
    """Finds a HEAVY top-level package with the other finders and runs its import under ``held()``."""

    def find_spec(self, name, path, target=None):
        if path is not None or name not in HEAVY:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            inner = spec.loader.exec_module

            def exec_module(module):
                with held():
                    inner(module)
            spec.loader.exec_module = exec_module
        return spec


def settle() -> None:
    """The command's outcome is decided and being reported: from now on SIGTERM/SIGINT are ignored, so a late
    signal can neither add a second outcome (a "terminated" error after the result) nor turn the exit into a
    kill (Python resets its handlers to the default action while it shuts down, but leaves ignored ones)."""
    if _main():
        _state["settled"] = True
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def install() -> None:
    """Make SIGTERM raise ``Terminated`` and SIGINT ``KeyboardInterrupt`` (idempotent; the main thread only)."""
    _state["installed"] = True
    _arm()
    if not any(isinstance(f, _HoldHeavyImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _HoldHeavyImports())
