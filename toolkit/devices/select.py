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
    adb_servers: list[str] | None = None  # HOST:PORT of each adb server (default: ADB_SERVER_SOCKET, else adb's)

    @classmethod
    def of(cls, serials: list[str] | None = None, ssh: list[str] | None = None, identity=None,
           ssh_config=None, adb_servers: list[str] | None = None) -> "Where":
        """From API arguments (paths as strings or Paths, empty meaning none)."""
        return cls(serials=serials or None, ssh=ssh or None, identity=Path(identity) if identity else None,
                   ssh_config=Path(ssh_config) if ssh_config else None, adb_servers=adb_servers or None)

    @property
    def kind(self) -> str:
        return "ssh" if self.ssh else "adb"

    def validate(self) -> None:
        if self.ssh and (self.serials or self.adb_servers):
            raise DeviceError("--serial/--adb-server select adb devices and --ssh boards: use one of them per run")
        if self.adb_servers:
            from .adb import parse_server
            for s in self.adb_servers:
                parse_server(s)
        if self.ssh:
            from .ssh import parse_target
            for t in self.ssh:
                parse_target(t)

    def open(self, not_ready: list[str] | None = None) -> list[Device]:
        """The devices; with --serial all, those listed but not usable are described in ``not_ready``."""
        self.validate()
        if self.ssh:
            from .ssh import SshDevice, parse_target
            identity = self.identity or os.environ.get("MLITE_SSH_IDENTITY") or None
            config = self.ssh_config or os.environ.get("MLITE_SSH_CONFIG") or None
            targets = list(dict.fromkeys(parse_target(t) for t in self.ssh))
            return [SshDevice(t, identity=identity, config=config) for t in targets]
        from . import adb
        return adb.resolve(self.serials, self.adb_servers, not_ready)


def open_device(spec: str, identity=None, ssh_config=None) -> Device:
    """One device by name: ``local`` (this host), ``ssh:USER@HOST[:PORT]`` (a board), ``adb:SERIAL`` or a bare
    adb serial."""
    if spec == "local":
        from .local import LocalDevice
        return LocalDevice()
    if spec.startswith("ssh:"):
        from .ssh import BadTarget
        try:
            return Where.of(ssh=[spec.removeprefix("ssh:")], identity=identity, ssh_config=ssh_config).open()[0]
        except BadTarget as e:
            raise e.for_option("--ssh '", "--device 'ssh:") from None
    serial = spec.removeprefix("adb:")
    if not serial:
        raise DeviceError("--device adb: needs a serial, e.g. --device adb:R58M123ABC (see 'mlite devices')")
    return Where(serials=[serial]).open()[0]
