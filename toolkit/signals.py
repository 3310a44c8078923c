"""SIGTERM behaves like Ctrl-C in the CLI: the same cleanup runs, nothing half-written is kept.

Paddle installs C handlers for SIGTERM when it is imported; they print a "C++ Traceback" dump on
stdout and exit without running Python's cleanup. ``install()`` puts ours back after every import
of ``paddle``, whichever module imports it first.
"""
from __future__ import annotations

import importlib.abc
import signal
import sys
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (CI timeout, ``docker stop``, systemd)."""


def _raise(signum, frame):
    raise Terminated()


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _arm() -> None:
    if _main():
        signal.signal(signal.SIGTERM, _raise)
        signal.signal(signal.SIGINT, signal.default_int_handler)


class _RearmAfterPaddle(importlib.abc.MetaPathFinder):
    """Finds ``paddle`` with the other finders and re-arms our handlers once its import has run."""

    def find_spec(self, name, path, target=None):
        if name != "paddle":
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
                # held back while Paddle imports (its C handler is live then); delivered to ours afterwards
                held = _main() and signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
                try:
                    inner(module)
                finally:
                    _arm()
                    if held is not False:
                        signal.pthread_sigmask(signal.SIG_SETMASK, held)
            spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Make SIGTERM raise ``Terminated`` (idempotent; the main thread only)."""
    _arm()
    if not any(isinstance(f, _RearmAfterPaddle) for f in sys.meta_path):
        sys.meta_path.insert(0, _RearmAfterPaddle())
