"""The per-device lock is a real flock: held across processes, dropped when the holder dies."""
import subprocess
import sys
import time

import pytest

from toolkit.devices.base import DeviceInfo
from toolkit.devices.lock import DeviceBusy, device_lock, lock_key

HOLD = """
import sys, time
from toolkit.devices.base import DeviceInfo
from toolkit.devices.lock import device_lock
with device_lock(DeviceInfo(serial="S1", kind="adb", adb_server=None)):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_is_per_device_and_released_with_its_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MLITE_HOME", str(tmp_path))
    a, b = DeviceInfo(serial="S1", kind="adb", adb_server=None), DeviceInfo(serial="S1", kind="adb", adb_server="h:5038")
    assert lock_key(a) != lock_key(b)                      # the same serial behind another adb server
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True,
                              env={"MLITE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": "."})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DeviceBusy, match=f"device S1 is in use by another mlite process \\(pid {holder.pid}"):
            with device_lock(a):
                pass
        with device_lock(b), device_lock(b):              # another device; nested in one process is fine
            pass
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with device_lock(a):                                   # the dead holder's lock is gone
        pass
