"""A runner on a device: push what changed, run it with the benchmark_bin contract, run tensors through it.

Shared by benchmarks (``mlite push``), on-device accuracy (``mlite eval --device``) and the ARM parity
check of exports: each pushes the runner and a ``.nb`` into a scratch directory, runs, and removes
what it pushed.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import sha256_file, temp_dir
from .bench import Perf, RunnerError, RunnerSettings, parse_output
from .devices.base import Device
from . import runners
from .runners import RunnerMeta

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class Workspace:
    """Files pushed to ``remote_dir`` on ``dev``; ``close()`` removes the ones this workspace pushed."""

    dev: Device
    remote_dir: str
    keep: bool = False
    pushed: list[str] = field(default_factory=list)

    def __enter__(self) -> "Workspace":
        self.dev.mkdir(self.remote_dir)
        return self

    def __exit__(self, *exc) -> None:
        if not self.keep:
            try:
                self.dev.remove(self.pushed)
                self.dev.rmdir_if_empty(self.remote_dir)
            except Exception:  # the device may be gone; the original error matters more
                pass

    def put(self, local: Path, name: str, sha: str | None = None, mode: str | None = None) -> str:
        """Push ``local`` as ``remote_dir/name`` unless the device already has the same bytes there."""
        remote = posixpath.join(self.remote_dir, _SAFE.sub("_", name))
        if self.dev.sha256(remote) != (sha or sha256_file(local)):
            self.dev.push(local, remote)
            self.pushed.append(remote)
            if mode:
                self.dev.shell(["chmod", mode, remote], timeout=60)
        return remote

    def scratch(self, name: str) -> str:
        """A remote path this workspace will remove (for files the runner writes)."""
        remote = posixpath.join(self.remote_dir, _SAFE.sub("_", name))
        self.pushed.append(remote)
        return remote


def launcher(remote_runner: str | list[str]) -> list[str]:
    """The argv prefix that starts a runner: a binary's path, or e.g. ``["python3", "/tmp/mlite/runner.py"]``."""
    return [remote_runner] if isinstance(remote_runner, str) else list(remote_runner)


def run(dev: Device, remote_runner: str | list[str], rs: RunnerSettings, timeout: float,
        extra: list[str] = ()) -> tuple[Perf, RunnerMeta]:
    """Run the runner once; its Perf block and what it says about itself. RunnerError on failure."""
    try:
        r = dev.shell_tied([*launcher(remote_runner), *rs.argv(), *extra], timeout=timeout)
    except subprocess.TimeoutExpired:
        dev.kill(launcher(remote_runner)[-1])
        raise RunnerError(f"runner exceeded --timeout {timeout:g} s at {rs.threads} thread(s); "
                          "raise --timeout or lower --repeats") from None
    if r.code != 0:
        lines = [ln.strip() for ln in r.output.splitlines() if ln.strip()]
        tail = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
        how = f"was killed by signal {r.code - 128}" if r.code > 128 else f"exited with status {r.code}"
        raise RunnerError(f"runner {how} at {rs.threads} thread(s): {tail[:300]}")
    return parse_output(r.output), runners.parse_meta(r.output)


def probe(dev: Device, remote_runner: str | list[str], timeout: float = 60) -> RunnerMeta:
    """``runner --version`` on the device (benchmark_bin may not answer it: then an empty RunnerMeta)."""
    try:
        r = dev.shell([*launcher(remote_runner), "--version"], timeout=min(timeout, 60))
    except subprocess.TimeoutExpired:
        dev.kill(launcher(remote_runner)[-1])
        return RunnerMeta()
    return runners.parse_meta(r.output) if r.code == 0 else RunnerMeta()


@dataclass
class TensorRun:
    outputs: object            # numpy array (N, ...) of the model's first output
    perf: Perf
    meta: RunnerMeta


def infer(ws: Workspace, remote_runner: str | list[str], remote_model: str, x, threads: int = 1,
          timeout: float = 600, chunk: int = 256, backend: str = "arm") -> TensorRun:
    """Run N inputs (NCHW float32, N = len(x)) through the runner's batch mode, ``chunk`` per call."""
    import numpy as np
    x = np.ascontiguousarray(x, dtype="<f4")
    outs, perfs, meta = [], [], RunnerMeta()
    with temp_dir("tensor") as work:
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            local_in, local_out = Path(work) / "in.f32", Path(work) / "out.f32"
            local_in.write_bytes(part.tobytes())
            tag = hashlib.sha256(part.tobytes()).hexdigest()[:12]
            remote_in = ws.put(local_in, f"in-{tag}.f32")
            remote_out = ws.scratch(f"out-{tag}.f32")
            rs = RunnerSettings(model_file=remote_model, input_shape=(1, *x.shape[1:]), backend=backend,
                                threads=threads, warmup=0, repeats=len(part))
            perf, meta = run(ws.dev, remote_runner, rs, timeout,
                             [f"--input_file={remote_in}", f"--output_file={remote_out}", f"--batch={len(part)}"])
            ws.dev.pull(remote_out, local_out)
            ws.dev.remove([remote_in, remote_out])
            data = np.fromfile(local_out, dtype="<f4")
            if data.size % len(part):
                raise RunnerError(f"runner wrote {data.size} floats for {len(part)} inputs; expected a multiple")
            outs.append(data.reshape(len(part), -1))
            perfs.append(perf)
    return TensorRun(outputs=np.concatenate(outs), perf=Perf.pooled(perfs), meta=meta)


def host_arm_infer(nb: Path, x, threads: int = 1, fp16: bool = False) -> TensorRun | None:
    """Run ``x`` through ``nb`` on Paddle Lite's ARM kernels on this host (natively on an ARM host, through
    qemu-user on x86; ``fp16``: the armv8.2 FP16 runner), or None when this host has no usable ARM runner."""
    found = runners.host_arm_runner(fp16=fp16)
    if found is None:
        return None
    runner, meta = found
    from .devices.local import LocalDevice
    dev = LocalDevice()
    runners.check_versions(Path(nb), meta, "this host")
    with temp_dir("arm") as remote, Workspace(dev, remote) as ws:
        res = infer(ws, str(runner), ws.put(Path(nb), Path(nb).name), x, threads=threads)
    res.meta.emulated = meta.emulated
    return res


def engine_label(meta: RunnerMeta) -> str:
    """e.g. 'paddle-lite-arm v2.13-rc (mlite-arm-runner, qemu-user emulated)'; FP16 runs say 'fp16'."""
    how = "qemu-user emulated" if meta.emulated else "native"
    fp16 = meta.cpu_precision == "fp16"
    return (f"paddle-lite-arm{'-fp16' if fp16 else ''} {meta.lite_version} "
            f"({runners.ARM_FP16_RUNNER if fp16 else runners.ARM_RUNNER}, {how})")
