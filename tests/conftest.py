"""Shared test helpers: run the real `mlite` console script in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MLITE = str(Path(sys.executable).parent / "mlite")


def once_per_run(tmp_path_factory, name: str, make):
    """``make(DIR)`` (returns something JSON-able) once per test run, also across pytest-xdist workers: the
    first worker to get here builds it under a lock in the run's shared temp folder, the others wait and get
    the same value. Callers copy what tests may write into (each worker keeps its own files)."""
    import fcntl
    import json
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent                # pytest-N/, shared by this run's popen-gwK/ workers
    done = base / f"once-{name}.json"
    with open(base / f"once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            work = base / f"once-{name}"
            if work.exists():             # a worker's earlier attempt failed half-way
                import shutil
                shutil.rmtree(work)
            work.mkdir()
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(make(work)))
            tmp.rename(done)
        return json.loads(done.read_text())


def run_mlite(*args, env=None, timeout=600, cwd=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([MLITE, *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd)


def interruptible_mlite(args: list[str], env: dict | None = None) -> subprocess.Popen:
    """Start mlite so that SIGINT reaches it as Ctrl-C would, even when this test run was started in
    the background by a shell without job control (which makes its children ignore SIGINT)."""
    import signal
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user error: non-zero exit, exactly one line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("mlite: error: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def mlite_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MLITE_HOME", str(home))
    return home
