"""Devices: where a model is benchmarked. A registry of kinds, each with ``is_available()``."""
from __future__ import annotations

from .base import Device, DeviceInfo, ShellResult
from .errors import (AdbMissing, AmbiguousDevice, DeviceError, DeviceLost, DeviceNotReady, NoDevice, NoSpace,
                     UnknownSerial)

__all__ = ["Device", "DeviceInfo", "ShellResult", "DeviceError", "AdbMissing", "NoDevice", "AmbiguousDevice",
           "UnknownSerial", "DeviceNotReady", "DeviceLost", "NoSpace", "KINDS"]


def _adb():
    from . import adb
    return adb.AdbDevice


def _local():
    from . import local
    return local.LocalDevice


def _ssh():
    from . import ssh
    return ssh.SshDevice


KINDS = {"adb": _adb, "local": _local, "ssh": _ssh}
