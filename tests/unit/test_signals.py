"""SIGTERM/SIGINT handling (toolkit.signals), each case in a fresh interpreter that signals itself."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

REPO = str(__import__("pathlib").Path(__file__).resolve().parents[2])


def run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("sig, kind", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_held_signal_is_raised_when_the_outermost_hold_ends(tmp_path, sig, kind):
    p = run(f"""
        import os, signal
        from toolkit import signals
        signals.install()
        try:
            with signals.held():
                os.kill(os.getpid(), signal.{sig})
                with signals.held():
                    os.kill(os.getpid(), signal.{sig})
                print("inner hold ended, still held", flush=True)
            print("not reached", flush=True)
        except KeyboardInterrupt as e:
            print("raised", type(e).__name__, flush=True)
        """, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["inner hold ended, still held", f"raised {kind}"]


def test_a_signal_during_a_heavy_import_is_raised_after_the_import_completes(tmp_path):
    """A stand-in for a C extension's import: the package signals itself mid-import and must still finish
    (a real extension turns an exception there into an ImportError with a printed traceback)."""
    pkg = tmp_path / "cv2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                     "time.sleep(0.05)\nopen('imported', 'w').close()\n")
    p = run("""
        import sys
        from toolkit import signals
        signals.install()
        try:
            import cv2
        except signals.Terminated:
            print("terminated after import", "cv2" not in sys.modules, flush=True)
        """, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "terminated after import True" and "Traceback" not in p.stderr
    assert (tmp_path / "imported").exists()        # the module ran to its end before the signal was raised


def test_after_settle_signals_change_nothing(tmp_path):
    p = run("""
        import os, signal
        from toolkit import signals
        signals.install()
        signals.settle()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        with signals.held():
            pass
        print("done", flush=True)
        """, tmp_path)
    assert (p.returncode, p.stdout.strip()) == (0, "done"), p.stderr


def test_a_library_caller_keeps_its_own_handlers(tmp_path):
    """Without install() (mlite used as a library), held sections leave the caller's handlers in place."""
    p = run("""
        import signal
        from toolkit import signals
        mine = lambda *a: None
        signal.signal(signal.SIGTERM, mine)
        with signals.held():
            pass
        print(signal.getsignal(signal.SIGTERM) is mine, flush=True)
        """, tmp_path)
    assert (p.returncode, p.stdout.strip()) == (0, "True"), p.stderr
