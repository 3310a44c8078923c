"""Child processes that stop when the command stops: SIGTERM (CI timeout, ``docker stop``) or Ctrl-C.

A signal raises in the main thread only. Work running in threads (one per device) and in worker processes
(``run --jobs``) would go on until it finished on its own; so on the first interrupt every child process of
this process is killed (adb and ssh clients, local runners, export workers and their children) and every
later ``run`` raises ``Cancelled`` at once. Threads end within a moment; what they stored before is whole.

Remote runners: a killed ``adb`` client makes adbd kill its command; ``ssh`` does not, so commands that may
run long are *tied* (``run(..., tie=True)``): the remote side kills them when its stdin (our pipe) closes.
"""
from __future__ import annotations

import os
import subprocess
import threading

from . import signals

cancelled = threading.Event()


class Cancelled(KeyboardInterrupt):
    """The command is stopping: a worker abandons its work (not an Exception, so no ``except Exception`` or
    device-loss handler mistakes it for a failure and reruns or sets aside anything)."""


def check() -> None:
    """Raise ``Cancelled`` once the command is stopping."""
    if cancelled.is_set():
        raise Cancelled()


def run(argv: list[str], timeout: float | None, tie: bool = False, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True, errors='replace')`` that the stop kills.

    ``tie``: stdin is a pipe this process holds open until the child ends (for ssh's remote watchdog, see
    ``tied_command``); otherwise stdin is /dev/null."""
    check()
    read_end = write_end = None
    if tie:
        read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                stdin=read_end if tie else subprocess.DEVNULL, **kw)
    finally:
        if read_end is not None:
            os.close(read_end)
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, out, err) from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    finally:
        if write_end is not None:
            os.close(write_end)
    check()                    # killed by the stop: its failure is not the device's
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def tied_command(command: str) -> str:
    """A POSIX sh command line (a subshell) that runs the simple command ``command`` and kills it when stdin
    reaches EOF, i.e. when the client that started it is gone; its exit status is the command's."""
    return ("( exec 3<&0 </dev/null; " + command + " 3<&- & c=$!; "
            "{ cat <&3 >/dev/null 2>&1; kill -TERM $c 2>/dev/null; } & w=$!; exec 3<&-; "
            "wait $c; s=$?; kill $w 2>/dev/null; exit $s )")


GRACE_S = 0.8          # a child's time to clean up after SIGTERM (worker processes remove their staging dirs)


def cancel_all() -> None:
    """Stop: later ``run`` calls raise ``Cancelled``; every descendant process of this one gets SIGTERM, and
    SIGKILL if it is still there after ``GRACE_S``."""
    if cancelled.is_set():
        return
    cancelled.set()
    try:
        import psutil
        kids = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - best effort while the command is being interrupted
        return
    for k in kids:
        try:
            k.terminate()
        except Exception:  # noqa: BLE001 - gone already, or not ours to signal
            pass
    try:
        _gone, alive = psutil.wait_procs(kids, timeout=GRACE_S)
    except Exception:  # noqa: BLE001
        alive = kids
    for k in alive:
        try:
            k.kill()
        except Exception:  # noqa: BLE001
            pass
    try:
        psutil.wait_procs(alive, timeout=0.5)      # gone (and reaped) before anyone sweeps what they left
    except Exception:  # noqa: BLE001
        pass


def install() -> None:
    """The CLI's (and a worker's) stop: the first SIGTERM/SIGINT stops the children and the work threads.
    Library callers that did not ask for it keep their own children alone."""
    signals.on_interrupt(cancel_all)


def worker_init() -> None:
    """In a worker process (``run --jobs``): SIGTERM from the parent's stop cleans up as in the CLI."""
    install()
    signals.install()

