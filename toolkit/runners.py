"""Which runner a device gets (a registry by ABI), our static ARM runner, and Paddle Lite versions.

The ARM runner (``runners/arm``, built by ``make arm-runner``) is one statically linked aarch64
program: it runs on Android arm64 phones, ARM Linux boards and, through qemu-user, on this host.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, asdict
from functools import lru_cache
from pathlib import Path

from .errors import MliteError

ARM_RUNNER = "mlite-arm-runner"
ARM_FP16_RUNNER = "mlite-arm-runner-fp16"     # armv8.2-a+fp16: Paddle Lite's FP16 kernels; SIGILL on A53/A72
HOST_RUNNER = "mlite-runner"
NO_ARM_RUNNER = "no ARM runner on this host ('make arm-runner', qemu-user)"   # manifests say why ARM did not run
ARM_ABIS = ("arm64-v8a", "armeabi-v7a", "armeabi")
ARM64_ABIS = ("arm64-v8a", "aarch64", "arm64")
REPO_BUILD = Path(__file__).resolve().parent.parent / "build" / "arm" / ARM_RUNNER
REPO_BUILD_FP16 = REPO_BUILD.with_name(ARM_FP16_RUNNER)
NDK_HINT = ("or build Paddle Lite's own benchmark_bin in a Paddle-Lite v2.13 checkout ('./lite/tools/build_android.sh "
            "--arch=armv8 --toolchain=clang --with_benchmark=ON full_publish') and pass --runner PATH")


class RunnerMissing(MliteError):
    """No runner for the device's ABI."""


class VersionMismatch(MliteError):
    """The .nb was written by another Paddle Lite opt than the runtime that would load it."""


def is_arm(abi: str | None) -> bool:
    return abi in ARM_ABIS or abi in ARM64_ABIS


def _ours(name: str, env_var: str, build: Path) -> Path | None:
    """One of our runners: ``env_var`` (``none``: no runner), $MLITE_HOME/runners/NAME, or this checkout's build."""
    from .weights import mlite_home
    env = os.environ.get(env_var)
    if env:
        return Path(env) if env != "none" else None
    for p in (mlite_home() / "runners" / name, build):
        if p.is_file():
            return p
    return None


def arm_runner() -> Path | None:
    """Our static ARM runner: MLITE_ARM_RUNNER, $MLITE_HOME/runners/mlite-arm-runner, or this checkout's build."""
    return _ours(ARM_RUNNER, "MLITE_ARM_RUNNER", REPO_BUILD)


def arm_fp16_runner() -> Path | None:
    """Our armv8.2 FP16 runner: MLITE_ARM_FP16_RUNNER, $MLITE_HOME/runners/mlite-arm-runner-fp16, or this checkout's."""
    return _ours(ARM_FP16_RUNNER, "MLITE_ARM_FP16_RUNNER", REPO_BUILD_FP16)


def host_runner() -> Path:
    return Path(sys.executable).parent / HOST_RUNNER


def for_device(abi: str | None) -> Path:
    """The runner for a device ABI: MLITE_RUNNER, a user's benchmark_bin-ABI, our ARM runner, or mlite-runner."""
    from .weights import mlite_home
    env = os.environ.get("MLITE_RUNNER")
    if env:
        return Path(env)
    if not is_arm(abi):
        return host_runner()
    cached = mlite_home() / "runners" / f"benchmark_bin-{abi}"
    if cached.is_file():
        return cached
    ours = arm_runner()
    if abi in ARM64_ABIS and ours is not None:
        return ours
    if abi in ARM64_ABIS:
        raise RunnerMissing(f"no ARM runner for this {abi} device: run 'make arm-runner' in the mlite checkout "
                            f"(a static aarch64 program, {REPO_BUILD}), set MLITE_ARM_RUNNER, {NDK_HINT}")
    raise RunnerMissing(f"the device is {abi} (32-bit ARM): mlite's runner is arm64 only; {NDK_HINT} "
                        f"(armv7), or copy it to {cached}")


def remote_name(runner: Path) -> str:
    """The runner's file name on the device (our runners keep theirs; others are benchmark_bin)."""
    return runner.name if runner.name in (ARM_RUNNER, ARM_FP16_RUNNER, HOST_RUNNER) else "benchmark_bin"


_NB_VERSION = re.compile(rb"v\d+\.\d+[0-9A-Za-z.\-]*")


def nb_version(nb: Path) -> str | None:
    """The opt version written in a .nb header (u16 meta version, then 16 NUL-padded bytes)."""
    try:
        with open(nb, "rb") as f:
            head = f.read(18)
    except OSError:
        return None
    m = _NB_VERSION.fullmatch(head[2:18].split(b"\0", 1)[0]) if len(head) == 18 else None
    return m.group(0).decode() if m else None


@dataclass
class RunnerMeta:
    """What a runner says about itself (in --version or a run's Device Info block)."""

    name: str | None = None
    lite_version: str | None = None
    emulated: bool | None = None
    cpu: str | None = None
    cpu_precision: str | None = None         # the precision that really ran (our ARM runners say so)
    precision_evidence: str | None = None    # why the runner says it (Paddle Lite's log, or a baked FP16 .nb)
    cpu_fp16: bool | None = None             # the CPU has ARMv8.2 FP16 arithmetic (AT_HWCAP fphp + asimdhp)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_meta(text: str) -> RunnerMeta:
    meta = RunnerMeta()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "runner" and meta.name is None:
            meta.name = value
        elif key == "paddle lite version" and meta.lite_version is None:
            meta.lite_version = value
        elif key == "emulated":
            meta.emulated = value.startswith("yes")
        elif key == "cpu" and meta.cpu is None:
            meta.cpu = value
        elif key == "cpu_precision" and meta.cpu_precision is None:
            meta.cpu_precision = value
        elif key == "cpu fp16 arithmetic" and meta.cpu_fp16 is None:
            meta.cpu_fp16 = value.startswith("yes")
        elif key == "precision_evidence" and meta.precision_evidence is None:
            meta.precision_evidence = value
        elif line.startswith((ARM_RUNNER + " ", ARM_FP16_RUNNER + " ")) and meta.name is None:
            meta.name = line.strip()
    return meta


def check_versions(nb: Path, meta: RunnerMeta, where: str) -> None:
    """One clear line when the runtime cannot read this .nb (users see segfaults or empty output otherwise)."""
    model_v = nb_version(nb)
    if model_v and meta.lite_version and model_v != meta.lite_version:
        raise VersionMismatch(f"{nb.name} was written by Paddle Lite opt {model_v} but the runner on {where} is "
                              f"Paddle Lite {meta.lite_version}: re-export with the opt of {meta.lite_version}, or "
                              f"rebuild the runner at tag {model_v} ('make arm-runtime PADDLE_LITE_SRC=...')")


@lru_cache(maxsize=None)
def _probe(path: str, mtime: float) -> RunnerMeta | None:
    try:
        p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None                       # e.g. "Exec format error": no qemu-user binfmt on an x86 host
    return parse_meta(p.stdout) if p.returncode == 0 else None


def host_arm_runner(fp16: bool = False) -> tuple[Path, RunnerMeta] | None:
    """Our ARM runner (``fp16``: the armv8.2 FP16 one) if this host can execute it (an ARM host, or x86 with
    qemu-user binfmt; for FP16, a CPU with FP16 arithmetic, which qemu-user's default CPU has), else None."""
    path = arm_fp16_runner() if fp16 else arm_runner()
    if path is None or not path.is_file():
        return None
    meta = _probe(str(path), path.stat().st_mtime)
    if meta is None or meta.lite_version is None or (fp16 and meta.cpu_fp16 is not True):
        return None
    from dataclasses import replace
    return path, replace(meta, emulated=platform.machine().lower() not in ("aarch64", "arm64"))
