"""Which devices a command uses: adb phones (serials, 'all', or the only one attached) or SSH boards."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import Device
from .errors import DeviceError


@dataclass
class Where:
    serials: list[str] | None = None      # adb: explicit serials or ['all']; None = ANDROID_SERIAL / the only one
    ssh: list[str] | None = None          # boards: USER@HOST[:PORT] each
    identity: Path | None = None          # ssh -i (default: MLITE_SSH_IDENTITY, else ssh's own choice)
    ssh_config: Path | None = None        # ssh -F (default: MLITE_SSH_CONFIG, else ~/.ssh/config)

    @property
    def kind(self) -> str:
        return "ssh" if self.ssh else "adb"

    def validate(self) -> None:
        if self.ssh and self.serials:
            raise DeviceError("--serial selects adb devices and --ssh boards: use one of them per run")
        if self.ssh:
            from .ssh import parse_target
            for t in self.ssh:
                parse_target(t)

    def open(self) -> list[Device]:
        self.validate()
        if self.ssh:
            from .ssh import SshDevice, parse_target
            identity = self.identity or os.environ.get("MLITE_SSH_IDENTITY") or None
            config = self.ssh_config or os.environ.get("MLITE_SSH_CONFIG") or None
            targets = list(dict.fromkeys(parse_target(t) for t in self.ssh))
            return [SshDevice(t, identity=identity, config=config) for t in targets]
        from . import adb
        return adb.resolve(self.serials)
