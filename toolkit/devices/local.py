"""LocalDevice: this host, with the same interface (files live in a scratch directory)."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from .base import Device, DeviceInfo, ShellResult


class LocalDevice(Device):
    kind = "local"

    def __init__(self, serial: str = "localhost"):
        self.serial = serial
        self.default_remote_dir = str(Path(tempfile.gettempdir()) / f"mlite-local-{os.getpid()}")

    @classmethod
    def is_available(cls) -> bool:
        return True

    def info(self) -> DeviceInfo:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        free = shutil.disk_usage(tempfile.gettempdir()).free
        return DeviceInfo(serial=self.serial, kind="local", model=platform.node(), soc=cpu, soc_name=cpu,
                          abi=platform.machine(), android=None, free_bytes=free)

    def shell(self, argv: list[str], timeout: float) -> ShellResult:
        from .. import procs
        p = procs.run(argv, timeout)
        return ShellResult(p.returncode, p.stdout + p.stderr)

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, remote)

    def pull(self, remote: str, local: Path, timeout: float = 600) -> None:
        shutil.copy2(remote, local)

    def kill(self, pattern: str) -> None:
        """subprocess.run already killed the timed-out child; never pkill on the host."""
