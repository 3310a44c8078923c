"""SshDevice: an ARM Linux board (Raspberry Pi, Jetson, RK3588 ...) driven through the system OpenSSH client.

Host-key checking stays on (``StrictHostKeyChecking=yes``) and nothing ever prompts (``BatchMode=yes``):
an unknown host, a refused key or a lost connection becomes one DeviceError line.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .base import SEP_MARK, Device, DeviceInfo, ShellResult, quote_argv, split_exit_mark, with_exit_mark
from .errors import DeviceError, DeviceLost, NoSpace

_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")
# Arm's MIDR part numbers (implementer 0x41) -> core name, as /proc/cpuinfo prints them ("CPU part : 0xd08").
ARM_PARTS = {
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1",
    "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd4d": "Cortex-A715",
    "0xd4e": "Cortex-X3",
}
ARM64 = ("aarch64", "arm64")
ABIS = {"armv7l": "armeabi-v7a", "armv8l": "armeabi-v7a"}      # uname -m -> runner ABI (aarch64 stays)


class BadTarget(DeviceError):
    """A --ssh value that is not USER@HOST[:PORT]."""


class SshMissing(DeviceError):
    pass


class HostKeyError(DeviceError):
    """Unknown or changed host key."""


class AuthError(DeviceError):
    """The board refused our key."""


class Unreachable(DeviceError):
    pass


@dataclass(frozen=True)
class Target:
    user: str
    host: str
    port: int = 22

    @property
    def _host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host           # IPv6 in brackets

    @property
    def serial(self) -> str:
        return f"{self.user}@{self._host}" + (f":{self.port}" if self.port != 22 else "")

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}"

    def scp_path(self, remote: str) -> str:
        return f"{self.user}@{self._host}:{remote}"


def parse_target(spec: str) -> Target:
    """``USER@HOST``, ``USER@HOST:PORT`` or ``USER@[IPV6]:PORT`` (BadTarget otherwise)."""
    hint = "expected USER@HOST[:PORT], e.g. pi@192.168.1.20 or pi@board.local:2222"
    spec = (spec or "").removeprefix("ssh:")
    user, at, rest = spec.partition("@")
    if not at or not _USER.match(user):
        raise BadTarget(f"--ssh {spec!r}: no valid user name before '@'; {hint}")
    port = "22"
    if rest.startswith("["):
        host, close, tail = rest[1:].partition("]")
        if not close or not _IPV6.match(host) or (tail and not tail.startswith(":")):
            raise BadTarget(f"--ssh {spec!r}: bad bracketed IPv6 address; {hint}")
        port = tail[1:] or port
    else:
        host, _, p = rest.partition(":")
        port = p or port
        if not _HOST.match(host):
            raise BadTarget(f"--ssh {spec!r}: {host!r} is not a host name or IPv4 address; {hint}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise BadTarget(f"--ssh {spec!r}: port {port!r} is not a number from 1 to 65535; {hint}")
    return Target(user=user, host=host, port=int(port))


def ssh_paths() -> tuple[str, str] | None:
    ssh = os.environ.get("MLITE_SSH") or shutil.which("ssh")
    scp = os.environ.get("MLITE_SCP") or shutil.which("scp")
    return (ssh, scp) if ssh and scp else None


def _classify(target: Target, text: str, what: str) -> DeviceError:
    """One line for what OpenSSH printed (its exit status 255 means ssh itself failed)."""
    t = text.lower()
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "no output")
    who = target.serial
    if "remote host identification has changed" in t:
        return HostKeyError(f"the host key of {who} has CHANGED since it was recorded: if the board was reinstalled, "
                            f"remove the old key ('ssh-keygen -R {target.host}') and verify the new one; otherwise "
                            "someone may be intercepting the connection")
    if "host key verification failed" in t or "no matching host key" in t:
        return HostKeyError(f"the host key of {who} is not known here, so it cannot be verified: connect once with "
                            f"'ssh -p {target.port} {target.login}' and check the fingerprint (or add it to "
                            "known_hosts), then rerun")
    if "permission denied" in t:
        return AuthError(f"{who} refused the login ({last}): pass --identity KEY with a key the board accepts, "
                         f"or add your public key to ~{target.user}/.ssh/authorized_keys on the board")
    if "could not resolve hostname" in t or "name or service not known" in t:
        return Unreachable(f"cannot resolve the host name of {who}; check the name or use its IP address")
    if "connection refused" in t:
        return Unreachable(f"{who} refused the connection on port {target.port}: is sshd running there "
                           "(and is it the right port)?")
    if "timed out" in t or "no route to host" in t or "network is unreachable" in t:
        return Unreachable(f"{who} is not reachable ({last}); check that the board is on and on this network")
    if "no space left" in t:
        return NoSpace(f"{who} has no space left for {what} ({last}); free space or pass --remote-dir")
    return DeviceLost(f"the connection to {who} was lost during {what} ({last}); check the board and rerun")


class SshDevice(Device):
    kind = "ssh"
    default_remote_dir = "/tmp/mlite"

    def __init__(self, target: Target | str, identity: Path | str | None = None, config: Path | str | None = None,
                 connect_timeout: int = 10):
        self.target = parse_target(target) if isinstance(target, str) else target
        self.serial = self.target.serial
        found = ssh_paths()
        if found is None:
            raise SshMissing("ssh/scp not found on PATH: install the OpenSSH client (Debian: openssh-client)")
        self._ssh, self._scp = found
        opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={connect_timeout}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if config is not None:
            if not Path(config).is_file():
                raise DeviceError(f"--ssh-config {str(config)!r} does not exist; pass an OpenSSH client config file")
            opts = ["-F", str(config), *opts]
        if identity is not None:
            if not Path(identity).is_file():
                raise AuthError(f"--identity {str(identity)!r} does not exist; pass the private key the board accepts")
            opts += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
        self._opts = opts

    @classmethod
    def is_available(cls) -> bool:
        return ssh_paths() is not None

    # ---- low level ----------------------------------------------------------------------------
    def _call(self, argv: list[str], timeout: float, tie: bool = False) -> subprocess.CompletedProcess:
        from .. import procs
        return procs.run(argv, timeout, tie=tie)

    def _shell_raw(self, command: str, timeout: float, what: str, tie: bool = False) -> ShellResult:
        """Run a command line whose words are already quoted; the exit status comes from a marker, so a
        remote status of 255 is not mistaken for an ssh failure. ``tie``: the board kills the command when
        this ssh client goes (SIGTERM to mlite must stop a runner there too; sshd leaves it running)."""
        from .. import procs
        line = procs.tied_command(command) if tie else command
        p = self._call([self._ssh, *self._opts, "-p", str(self.target.port), "--", self.target.login,
                        with_exit_mark(line)], timeout, tie)
        marked = split_exit_mark(p.stdout)
        if marked is None:
            raise _classify(self.target, p.stderr + "\n" + p.stdout, what)
        return ShellResult(*marked)

    def _copy(self, src: str, dst: str, timeout: float, what: str) -> None:
        p = self._call([self._scp, "-q", *self._opts, "-P", str(self.target.port), "--", src, dst], timeout)
        if p.returncode != 0:
            raise _classify(self.target, p.stderr + "\n" + p.stdout, what)

    # ---- Device -----------------------------------------------------------------------------
    def shell(self, argv: list[str], timeout: float) -> ShellResult:
        return self._shell_raw(quote_argv(argv), timeout, what=f"'{argv[0]}'")

    def shell_tied(self, argv: list[str], timeout: float) -> ShellResult:
        return self._shell_raw(quote_argv(argv), timeout, what=f"'{argv[0]}'", tie=True)

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        self._copy(str(local), self.target.scp_path(remote), timeout, what=f"copy of {Path(local).name}")

    def pull(self, remote: str, local: Path, timeout: float = 600) -> None:
        self._copy(self.target.scp_path(remote), str(local), timeout, what=f"copy of {remote}")

    def info(self) -> DeviceInfo:
        probes = ["uname -m", "cat /proc/cpuinfo", "cat /sys/firmware/devicetree/base/model",
                  "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", "cat /etc/os-release",
                  "cat /proc/meminfo", f"df -k {self.default_remote_dir} /tmp", "nproc", "uname -n"]
        r = self._shell_raw(f" 2>/dev/null; echo {SEP_MARK}; ".join(probes) + " 2>/dev/null", timeout=60,
                            what="board info")
        return board_info(self.serial, dict(zip(probes, (c.strip() for c in r.output.split(SEP_MARK)))))


def _field(text: str, key: str) -> str | None:
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == key.lower() and v.strip():
            return v.strip()
    return None


def board_info(serial: str, out: dict[str, str]) -> DeviceInfo:
    """DeviceInfo from the probes' outputs; anything unreadable stays None."""
    machine = (out.get("uname -m") or "").split()[0] if out.get("uname -m") else None
    cpuinfo = out.get("cat /proc/cpuinfo", "")
    parts = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.lower().startswith("cpu part")]
    cores = sorted({ARM_PARTS.get(p, p) for p in parts})
    host_cpu = _field(cpuinfo, "model name")               # x86 text: qemu-user shows the host's cpuinfo
    emulated = machine in ARM64 and bool(_field(cpuinfo, "vendor_id"))
    cpu = "+".join(cores) or _field(cpuinfo, "Hardware") or host_cpu
    if emulated:
        cpu = f"qemu-user {machine} on {host_cpu or 'an x86 host'}"
    freqs = []
    for w in out.get("cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", "").split():
        if w.isdigit():
            freqs.append(int(w) // 1000)
    mem = _field(out.get("cat /proc/meminfo", ""), "MemTotal")
    os_name = None
    for line in out.get("cat /etc/os-release", "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip().strip('"')
    free = None
    df = [ln.split() for ln in out.get(f"df -k {SshDevice.default_remote_dir} /tmp", "").splitlines()[1:]]
    if df and len(df[-1]) >= 4 and df[-1][3].isdigit():
        free = int(df[-1][3]) * 1024
    model = (out.get("cat /sys/firmware/devicetree/base/model") or "").strip("\x00 ") or out.get("uname -n") or None
    nproc = out.get("nproc", "")
    return DeviceInfo(serial=serial, kind="ssh", model=model, soc=cpu, soc_name=cpu,
                      abi=ABIS.get(machine, machine), free_bytes=free, emulated=emulated,
                      os=os_name, machine=machine, cores=int(nproc) if nproc.isdigit() else None,
                      max_freq_mhz=freqs or None,
                      mem_bytes=int(mem.split()[0]) * 1024 if mem and mem.split()[0].isdigit() else None,
                      cpu_note="qemu-user shows the host's /proc/cpuinfo: CPU is the host's" if emulated else None)
