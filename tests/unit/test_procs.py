"""The stop's two mechanisms, without devices: the tied remote command and cancel_all."""
import os
import subprocess
import sys
import time

from toolkit.procs import tied_command


def test_a_tied_command_dies_when_its_client_goes():
    """What a board's sh does with mlite's runner command when the ssh client is killed: stdin EOF kills it."""
    r, w = os.pipe()
    sh = subprocess.Popen(["sh", "-c", tied_command("sleep 30") + "; echo status=$?"], stdin=r,
                          stdout=subprocess.PIPE, text=True)
    os.close(r)
    time.sleep(0.5)
    t0 = time.monotonic()
    os.close(w)                                       # the client is gone
    out, _ = sh.communicate(timeout=10)
    assert time.monotonic() - t0 < 3 and out.strip() == "status=143"


def test_a_tied_command_keeps_its_exit_status_and_output():
    r, w = os.pipe()
    p = subprocess.run(["sh", "-c", tied_command("sh -c 'echo hi; exit 7'") + "; echo status=$?"], stdin=r,
                       capture_output=True, text=True, timeout=10)
    os.close(r)
    os.close(w)
    assert p.stdout.split() == ["hi", "status=7"]


STOP = """
import subprocess, sys, time
from toolkit import procs
child = subprocess.Popen(["sleep", "60"])
t0 = time.monotonic()
procs.cancel_all()                                 # SIGTERM; reaped by the stop itself
child.wait(timeout=5)
print("stopped" if time.monotonic() - t0 < 3 else "late", flush=True)
try:
    procs.run(["true"], 5)
except procs.Cancelled:
    print("cancelled", flush=True)
"""


def test_cancel_all_stops_the_children_and_every_later_command():
    p = subprocess.run([sys.executable, "-c", STOP], capture_output=True, text=True, timeout=30, cwd=os.getcwd())
    assert p.stdout.split() == ["stopped", "cancelled"], p.stderr
