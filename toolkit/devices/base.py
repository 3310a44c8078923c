"""The Device protocol: describe, push/pull, run a command with a timeout, clean up."""
from __future__ import annotations

import re
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass, asdict
from pathlib import Path

# ro.board.platform / ro.soc.model -> marketing name (Qualcomm codenames seen on phones).
SOC_NAMES = {
    "sm8150": "Snapdragon 855", "msmnile": "Snapdragon 855", "sdm845": "Snapdragon 845",
    "sm8250": "Snapdragon 865", "kona": "Snapdragon 865", "sm8350": "Snapdragon 888", "lahaina": "Snapdragon 888",
    "sm8450": "Snapdragon 8 Gen 1", "taro": "Snapdragon 8 Gen 1", "sm8550": "Snapdragon 8 Gen 2",
    "kalama": "Snapdragon 8 Gen 2", "sm8650": "Snapdragon 8 Gen 3", "pineapple": "Snapdragon 8 Gen 3",
    "sm7150": "Snapdragon 730", "sm6150": "Snapdragon 675", "sdm660": "Snapdragon 660",
}


@dataclass
class DeviceInfo:
    serial: str
    kind: str
    state: str = "device"
    model: str | None = None
    manufacturer: str | None = None
    soc: str | None = None            # ro.soc.model, else ro.board.platform
    soc_name: str | None = None       # e.g. Snapdragon 855
    abi: str | None = None
    android: str | None = None
    free_bytes: int | None = None
    emulated: bool = False            # an emulator (ro.kernel.qemu / ro.boot.qemu): its times are not a phone's
    os: str | None = None             # boards: /etc/os-release PRETTY_NAME
    machine: str | None = None        # boards: uname -m
    cores: int | None = None
    max_freq_mhz: list[int] | None = None   # per core, from cpufreq
    mem_bytes: int | None = None
    cpu_note: str | None = None
    adb_server: str | None = None     # HOST:PORT of the adb server it is attached to (None: adb's default)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def label(self) -> str:
        soc = f", {self.soc_name or self.soc}" if (self.soc_name or self.soc) else ""
        return f"{self.model or self.serial}{soc}"


def group_key(info: DeviceInfo) -> str:
    """Devices whose timings may be pooled: same SoC (phones) or CPU (boards), same ABI, same emulation."""
    chip = info.soc_name or info.soc or info.cpu_note or info.machine or f"device {info.serial}"
    return f"{chip} / {info.abi or info.machine or '?'}" + (" / emulated" if info.emulated else "")


def soc_name(*codes: str | None) -> str | None:
    for c in codes:
        if c and c.lower() in SOC_NAMES:
            return SOC_NAMES[c.lower()]
    return None


@dataclass
class ShellResult:
    code: int
    output: str


class Device(ABC):
    """A place that can store files and run the benchmark runner."""

    serial: str
    kind: str
    default_remote_dir: str

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool: ...

    @abstractmethod
    def info(self) -> DeviceInfo: ...

    @abstractmethod
    def shell(self, argv: list[str], timeout: float) -> ShellResult:
        """Run ``argv`` (each word quoted) and return its exit status and output."""

    def shell_tied(self, argv: list[str], timeout: float) -> ShellResult:
        """``shell`` for a long command (a runner) that must end when this client ends (mlite stopped by a
        signal): adbd kills the command of a closed stream, a local child is killed with us; ssh overrides."""
        return self.shell(argv, timeout)

    @abstractmethod
    def push(self, local: Path, remote: str, timeout: float = 600) -> None: ...

    @abstractmethod
    def pull(self, remote: str, local: Path, timeout: float = 600) -> None: ...

    def sha256(self, remote: str) -> str | None:
        """The remote file's sha256, or None if it is missing or the device has no sha256sum."""
        r = self.shell(["sha256sum", remote], timeout=60)
        word = r.output.split()[0] if r.code == 0 and r.output.split() else ""
        return word if len(word) == 64 else None

    def size(self, remote: str) -> int | None:
        r = self.shell(["wc", "-c", remote], timeout=60)
        try:
            return int(r.output.split()[0]) if r.code == 0 else None
        except (IndexError, ValueError):
            return None

    def mkdir(self, remote: str) -> None:
        self.shell(["mkdir", "-p", remote], timeout=60)

    def remove(self, paths: list[str]) -> None:
        if paths:
            self.shell(["rm", "-f", *paths], timeout=60)

    def rmdir_if_empty(self, remote: str) -> None:
        self.shell(["rmdir", remote], timeout=60)

    def kill(self, pattern: str) -> None:
        """Best effort: stop a runner that outlived its timeout."""
        try:
            self.shell(["pkill", "-f", self_excluding(pattern)], timeout=20)
        except Exception:  # the device may be gone; nothing else to do
            pass


EXIT_MARK = "__MLITE_EXIT__"       # remote shells print the command's status after it
SEP_MARK = "__MLITE_SEP__"         # between the outputs of several probes in one shell call


def with_exit_mark(command: str) -> str:
    """``command`` (words already quoted) followed by a marker carrying its exit status."""
    return f"{command} 2>&1; echo {EXIT_MARK}$?"


def split_exit_mark(stdout: str) -> tuple[int, str] | None:
    """(status, output before the marker), or None when the marker never came (the connection broke)."""
    m = re.search(rf"{EXIT_MARK}(\d+)\s*$", stdout)
    return None if m is None else (int(m.group(1)), stdout[:m.start()])


def self_excluding(text: str) -> str:
    """A ``pkill -f`` regex matching ``text`` but not the shell command line that carries it (``abc`` ->
    ``ab[c]``): otherwise pkill also kills the remote shell running it, and its answer is lost."""
    if not text:
        return text
    return re.escape(text[:-1]) + "[" + re.escape(text[-1]) + "]"


def quote_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
