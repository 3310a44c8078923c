"""Run converter workers in a subprocess and turn crashes into ConversionError."""
from __future__ import annotations

import contextlib
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
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env())
    except subprocess.TimeoutExpired:
        raise _timed_out(what, timeout) from None
    if proc.returncode != 0:
        raise _died(what, proc.returncode, proc.stderr + proc.stdout, writes)
    return proc


def _env() -> dict:
    """A worker's environment: this process's as it is now (import_paddle sets Paddle's log flags) with a
    fixed hash seed: Paddle's passes walk sets of names, and their order decides the order of the ops they
    insert (PTQ's quantize_linear ops): with it, one model gives the same bytes in every process."""
    return os.environ | {"PYTHONHASHSEED": "0"}


def _timed_out(what: str, timeout: float) -> ConversionError:
    return ConversionError(f"{what} did not finish within {timeout:.0f} s; check the model or raise the timeout")


def _died(what: str, rc: int, output: str, writes: Path | None) -> Exception:
    if writes is not None and _full(Path(writes).parent):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(writes))
    how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
    return ConversionError(f"{what} {how}: {_last_line(output)}")


DONE = "mlite-worker-done"      # a serving worker's line after each job (other stdout lines are noise)


class WorkerServer:
    """One long-lived ``python -m MODULE --serve`` worker, so its imports (Paddle, PaddleSlim: seconds) are
    paid once per process, not once per model; each job runs in a fork of it (see ``serve``). A job is a
    JSON file; the worker writes JOB.result and prints ``DONE JOB``. A crash, a hang or a full disk is a
    ConversionError naming ``what``, as with run_worker; the next job starts a new worker."""

    def __init__(self, module: str, what: str):
        import threading
        self.module, self.what = module, what
        self._proc = self._lines = self._log = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        import queue
        import tempfile
        import threading
        self._log = tempfile.TemporaryFile()            # the worker's stderr (read back when a job dies)
        self._proc = subprocess.Popen([sys.executable, "-m", self.module, "--serve"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, text=True, env=_env())
        self._lines = queue.Queue()
        out, lines = self._proc.stdout, self._lines

        def pump():
            for line in out:
                lines.put(line)
            lines.put(None)
        threading.Thread(target=pump, daemon=True).start()

    def call(self, job_file: Path, timeout: float = 600, writes: Path | None = None):
        """Run one job; the value it returned."""
        import json
        import queue
        import time
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.close()
                self._start()
            start = self._log.seek(0, os.SEEK_END)
            try:
                self._proc.stdin.write(f"{job_file}\n")
                self._proc.stdin.flush()
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        raise _timed_out(self.what, timeout) from None
                    if line is None:                    # the worker itself died
                        answer = {"died": self._proc.wait()}
                        break
                    if line.strip() == f"{DONE} {job_file}":
                        answer = json.loads(Path(f"{job_file}.result").read_text())
                        break
            except BaseException:   # a timeout, Ctrl-C, SIGTERM: the job stops before the caller cleans up
                self.close(busy=True)
                raise
            if "died" in answer:                        # a crash, an abort, the OOM killer
                self._log.seek(start)
                err = self._log.read().decode(errors="replace")
                raise _died(self.what, answer["died"], err, writes)
            if "error" in answer:
                raise ConversionError(f"{self.what} failed: {answer['error']}")
            return answer["ok"]

    def close(self, busy: bool = False) -> None:
        """Stop the worker: an idle one exits when its stdin closes; a ``busy`` or hung one is terminated
        (it kills its job first)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            if not busy:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    busy = True
            if busy:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


_SERVERS: dict[str, WorkerServer] = {}


def server(module: str, what: str) -> WorkerServer:
    """This process's serving worker for ``module`` (started on first use, stopped at exit)."""
    if module not in _SERVERS:
        import atexit
        _SERVERS[module] = srv = WorkerServer(module, what)
        atexit.register(srv.close)
    return _SERVERS[module]


def serve(run_job, prepare=None) -> int:
    """A worker's ``--serve`` loop: one job path per stdin line. ``prepare()`` (the imports) runs once here;
    each job, ``run_job(job: dict)`` -> JSON-able value, runs in a fork of this process, so every job starts
    from the state a fresh worker would have (Paddle's C++ passes number the variables they create with
    process-wide counters: a second job in one process would write other names, other bytes)."""
    import json
    import traceback
    if prepare is not None:
        prepare()
    child = []

    def stop(signum, frame):                            # WorkerServer.close on a busy worker: end its job too
        for pid in child:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)                      # gone before the caller removes its files
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    for line in sys.stdin:
        job_file = line.strip()
        if not job_file:
            continue
        result = Path(f"{job_file}.result")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                try:
                    answer = {"ok": run_job(json.loads(Path(job_file).read_text()))}
                except Exception as e:  # the job's error goes back to the caller
                    traceback.print_exc()
                    answer = {"error": f"{type(e).__name__}: {e}"[:300]}
                tmp = Path(f"{result}.tmp")
                tmp.write_text(json.dumps(answer))
                tmp.rename(result)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        child[:] = [pid]
        _, status = os.waitpid(pid, 0)
        child.clear()
        if not result.exists():
            result.write_text(json.dumps({"died": os.waitstatus_to_exitcode(status)}))
        print(f"{DONE} {job_file}", flush=True)
    return 0
