"""Shared test helpers: run the real `mlite` console script in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MLITE = str(Path(sys.executable).parent / "mlite")


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
