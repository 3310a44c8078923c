"""AdbDevice: a phone (or anything that speaks ADB) driven through the real `adb` client."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .base import (EXIT_MARK, SEP_MARK, Device, DeviceInfo, ShellResult, quote_argv, soc_name, split_exit_mark,
                   with_exit_mark)
from .errors import (AdbMissing, AmbiguousDevice, DeviceError, DeviceLost, DeviceNotReady, NoDevice, NoSpace,
                     UnknownSerial)

MAX_SHELL = 4000            # adb refuses shell commands over 4096 bytes
PROPS = ["ro.product.model", "ro.product.manufacturer", "ro.soc.model", "ro.board.platform",
         "ro.product.cpu.abi", "ro.build.version.release", "ro.kernel.qemu", "ro.boot.qemu"]


def adb_path() -> str | None:
    return os.environ.get("MLITE_ADB") or shutil.which("adb")


def _adb() -> str:
    path = adb_path()
    if path is None:
        raise AdbMissing("adb not found on PATH: install Debian's 'adb' package ('make install' does), "
                         "or point MLITE_ADB at Android platform-tools' adb")
    return path


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})$")


def parse_server(text: str) -> str:
    """``HOST:PORT`` (or adb's ``tcp:HOST:PORT``) of an adb server -> ``tcp:HOST:PORT``; DeviceError if malformed."""
    spec = text.strip().removeprefix("tcp:")
    host, _, port = spec.rpartition(":")
    if not _HOST.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeviceError(f"--adb-server {text!r}: give HOST:PORT of an adb server (e.g. 192.168.1.20:5037; "
                          "on that host start it with 'adb -a -P 5037 nodaemon server')")
    return f"tcp:{host}:{int(port)}"


def servers(given: list[str] | None = None) -> list[str | None]:
    """The adb servers to use: ``--adb-server`` values, else ADB_SERVER_SOCKET, else adb's default (None)."""
    if given:
        return list(dict.fromkeys(parse_server(s) for s in given))
    env = os.environ.get("ADB_SERVER_SOCKET")
    return [parse_server(env)] if env else [None]


def server_args(server: str | None) -> list[str]:
    return ["-L", server] if server else []


def server_name(server: str | None) -> str | None:
    return server.removeprefix("tcp:") if server else None


def _check_reachable(server: str) -> None:
    """adb would start a new, empty local server on a port nobody listens on: refuse instead."""
    host, _, port = server.removeprefix("tcp:").rpartition(":")
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
    except OSError as e:
        raise DeviceError(f"adb server {server_name(server)} does not answer ({e.strerror or e}): start it on that "
                          f"host with 'adb -a -P {port} nodaemon server', or drop this --adb-server") from None
    # something listens there: is it an adb server? (its smart-socket protocol answers host:version with OKAY)
    try:
        with conn:
            conn.settimeout(5)
            conn.sendall(b"000chost:version")
            answer = conn.recv(4)
    except OSError:
        answer = b""
    if answer not in (b"OKAY", b"FAIL"):
        raise DeviceError(f"{server_name(server)} is not an adb server (it did not answer adb's host:version "
                          f"request{': it sent ' + repr(answer[:4].decode(errors='replace')) if answer else ''}); "
                          "check the host and port of --adb-server (an adb server: 'adb -a -P PORT nodaemon server')")


@dataclass
class Listed:
    serial: str
    state: str
    attrs: dict[str, str]
    server: str | None = None       # tcp:HOST:PORT of the adb server that lists it (None: adb's default)


def list_devices(timeout: float = 30, server: str | None = None) -> list[Listed]:
    """`adb devices -l` of one adb server, parsed (adb's default server is started if needed)."""
    if server:
        _check_reachable(server)
    where = f" (server {server_name(server)})" if server else ""
    try:
        p = subprocess.run([_adb(), *server_args(server), "devices", "-l"], capture_output=True, text=True,
                           errors="replace", stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"'adb devices'{where} did not answer within {timeout:.0f} s; restart it with "
                          "'adb kill-server'") from None
    if p.returncode != 0:
        last = ((p.stderr or p.stdout).strip().splitlines() or ["no output"])[-1]
        raise DeviceError(f"'adb devices'{where} failed: {last}")
    out = []
    for line in p.stdout.splitlines():
        if not line.strip() or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        attrs = dict(w.split(":", 1) for w in parts[2:] if ":" in w)
        state = parts[1] if parts[1] != "no" else "no permissions"
        out.append(Listed(serial=parts[0], state=state, attrs=attrs, server=server))
    return out


def list_all(given: list[str] | None = None) -> list[Listed]:
    """Devices of every adb server in use (``--adb-server`` values, ADB_SERVER_SOCKET, or the default)."""
    return [d for srv in servers(given) for d in list_devices(server=srv)]


_STATE_HELP = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging' prompt, then retry",
    "offline": "reconnect it (unplug/replug, or 'adb reconnect'), then retry",
    "no permissions": "fix USB permissions (udev rules) or run 'adb kill-server' as the right user",
}


def _check_state(d: Listed) -> Listed:
    if d.state != "device":
        raise DeviceNotReady(f"device {d.serial} is {d.state}: {_STATE_HELP.get(d.state, 'wait for it to be ready')}")
    return d


def resolve(serials: list[str] | None, adb_servers: list[str] | None = None,
            not_ready: list[str] | None = None) -> list["AdbDevice"]:
    """The devices to use, over one or several adb servers: explicit serials, 'all', ANDROID_SERIAL, or the
    only one attached. With 'all', each listed device that is not ready is described in ``not_ready``."""
    listed = list_all(adb_servers)
    by_serial: dict[str, list[Listed]] = {}
    for d in listed:
        by_serial.setdefault(d.serial, []).append(d)
    if serials == ["all"]:
        ready = [d for d in listed if d.state == "device"]
        if not_ready is not None:
            not_ready += [f"device {d.serial}" + (f" (server {server_name(d.server)})" if d.server else "")
                          + f" is {d.state}, not measured: {_STATE_HELP.get(d.state, 'wait for it to be ready')}"
                          for d in listed if d.state != "device"]
        if not ready:
            raise NoDevice("no usable adb device" + (f" ({', '.join(f'{d.serial} {d.state}' for d in listed)})"
                                                     if listed else "") +
                           ": connect a phone with USB debugging on, or 'adb connect HOST:PORT'")
        return [AdbDevice(d.serial, d.server) for d in ready]
    if not serials and os.environ.get("ANDROID_SERIAL"):
        serials = [os.environ["ANDROID_SERIAL"]]
    if serials:
        chosen = []
        for s in dict.fromkeys(serials):
            if s not in by_serial:
                known = ", ".join(by_serial) or "none"
                raise UnknownSerial(f"no adb device with serial {s!r} (attached: {known}); check 'mlite devices'")
            if len(by_serial[s]) > 1:
                raise AmbiguousDevice(f"serial {s!r} is on {len(by_serial[s])} adb servers "
                                      f"({', '.join(server_name(d.server) or 'default' for d in by_serial[s])}): "
                                      "disconnect it from all but one")
            d = _check_state(by_serial[s][0])
            chosen.append(AdbDevice(d.serial, d.server))
        return chosen
    if not listed:
        raise NoDevice("no adb device attached: connect a phone with USB debugging on, or 'adb connect HOST:PORT'")
    if len(listed) > 1:
        raise AmbiguousDevice(f"{len(listed)} adb devices attached ({', '.join(by_serial)}): pass --serial S "
                              "(several allowed) or --serial all")
    d = _check_state(listed[0])
    return [AdbDevice(d.serial, d.server)]


class AdbDevice(Device):
    kind = "adb"
    default_remote_dir = "/data/local/tmp/mlite"

    def __init__(self, serial: str, server: str | None = None):
        self.serial = serial
        self.server = server                     # tcp:HOST:PORT of its adb server (None: adb's default)
        self._adb = _adb()

    @classmethod
    def is_available(cls) -> bool:
        return adb_path() is not None

    # ---- low level ----------------------------------------------------------------------------
    def _classify(self, text: str, what: str) -> DeviceError:
        t = text.lower()
        last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "no output")
        if "no space left" in t:
            return NoSpace(f"device {self.serial} has no space left for {what} ({last}); "
                           "free space on it or pass --remote-dir on a bigger partition")
        if "unauthorized" in t:
            return DeviceNotReady(f"device {self.serial} is unauthorized: {_STATE_HELP['unauthorized']}")
        if "offline" in t or "not found" in t or "closed" in t or "protocol fault" in t or "reset" in t:
            return DeviceLost(f"device {self.serial} was lost during {what} ({last}); reconnect it and rerun")
        return DeviceError(f"adb {what} on {self.serial} failed: {last}")

    def _run(self, args: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
        from .. import procs
        p = procs.run([self._adb, *server_args(self.server), "-s", self.serial, *args], timeout)
        if p.returncode != 0 and EXIT_MARK not in p.stdout:
            raise self._classify(p.stderr + "\n" + p.stdout, what)
        return p

    def _shell_raw(self, command: str, timeout: float, what: str) -> ShellResult:
        """Run a command line whose words are already quoted; the exit status comes from a marker
        (works with shell v1, which always exits 0, and v2)."""
        line = with_exit_mark(command)
        if len(line.encode()) > MAX_SHELL:
            raise DeviceError(f"shell command for {what} is {len(line)} bytes; adb allows 4096: use a shorter "
                              "--remote-dir or model path")
        p = self._run(["shell", line], timeout, what)
        marked = split_exit_mark(p.stdout)
        if marked is None:
            raise DeviceLost(f"device {self.serial} stopped answering during {what}; reconnect it and rerun")
        return ShellResult(marked[0], marked[1] + p.stderr)

    # ---- Device -----------------------------------------------------------------------------
    def shell(self, argv: list[str], timeout: float) -> ShellResult:
        return self._shell_raw(quote_argv(argv), timeout, what=f"'{argv[0]}'")

    def push(self, local: Path, remote: str, timeout: float = 600) -> None:
        self._run(["push", str(local), remote], timeout, what=f"push of {Path(local).name}")

    def pull(self, remote: str, local: Path, timeout: float = 600) -> None:
        self._run(["pull", remote, str(local)], timeout, what=f"pull of {remote}")

    def info(self) -> DeviceInfo:
        parts = [quote_argv(["getprop", p]) for p in PROPS] + [quote_argv(["df", "-k", "/data/local/tmp"])]
        r = self._shell_raw(f"; echo {SEP_MARK}; ".join(parts), timeout=60, what="device info")
        chunks = [c.strip() for c in r.output.split(SEP_MARK)]
        vals = dict(zip(PROPS, [c or None for c in chunks[:len(PROPS)]]))
        free = None
        df_lines = chunks[-1].splitlines() if len(chunks) > len(PROPS) else []
        if len(df_lines) >= 2:
            cols = df_lines[-1].split()
            try:
                free = int(cols[3]) * 1024
            except (IndexError, ValueError):
                free = None
        soc = vals["ro.soc.model"] or vals["ro.board.platform"]
        return DeviceInfo(serial=self.serial, kind="adb", model=vals["ro.product.model"],
                          manufacturer=vals["ro.product.manufacturer"], soc=soc,
                          soc_name=soc_name(vals["ro.soc.model"], vals["ro.board.platform"]),
                          abi=vals["ro.product.cpu.abi"], android=vals["ro.build.version.release"], free_bytes=free,
                          emulated="1" in (vals["ro.kernel.qemu"], vals["ro.boot.qemu"]),
                          adb_server=server_name(self.server))
