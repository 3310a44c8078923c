"""One measurement at a time per device, across mlite processes on this host.

Two ``mlite push`` to the same phone would both measure at once and store timings 2-4x off as normal results.
A lock file per device (``$MLITE_HOME/locks/``, keyed by adb server + serial, or the SSH target) is held with
``flock`` for as long as a command runs on the device; the kernel drops it when the process ends, however it
ends. A second command is refused with one line naming the holder (or, in a farm, the device is retired and
its models go to the others)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from .errors import DeviceNotReady

_held: dict[str, int] = {}         # key -> depth: nested holds in one process (a farm thread, then a push)


class DeviceBusy(DeviceNotReady):
    """Another mlite process is measuring on this device."""


def lock_key(info) -> str:
    if info.kind == "adb":
        return f"adb:{info.adb_server or 'default'}:{info.serial}"
    return f"{info.kind}:{info.serial}"


def _lock_dir() -> Path:
    from ..weights import mlite_home
    d = mlite_home() / "locks"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def device_lock(info) -> Iterator[None]:
    """Hold the device for this process; DeviceBusy when another process holds it. Local runs (this host)
    take no lock."""
    if info.kind == "local":
        yield
        return
    key = lock_key(info)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = _lock_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeviceBusy(f"device {info.serial} is in use by another mlite process ({_holder(fd)}): one "
                             "measurement at a time per device (two at once distort both); wait for it to finish "
                             "or pick another device with --serial") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv[1:3]) or "mlite",
                                 "since": time.strftime("%H:%M:%S"), "device": key}).encode())
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
    finally:
        os.close(fd)                 # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    try:
        d = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {d['pid']}, 'mlite {d['command']}' since {d['since']}"
    except (OSError, ValueError, KeyError):
        return "its pid is unknown"
