"""`mlite bench --local`: the runner contract on this host, Paddle Lite x86 and ONNX Runtime side by side."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import read_manifest, sha256_file
from .bench import BenchResult, RunnerSettings, result_key, stored_keys
from .devices.local import LocalDevice
from .errors import MliteError
from .push import _run_runner, _store

# backend -> (artifact format in the manifest, runner --backend)
BACKENDS = {"lite": ("paddle-lite-nb", "x86"), "onnxruntime": ("onnx", "onnxruntime")}


@dataclass
class LocalBench:
    model: str
    results: list[BenchResult] = field(default_factory=list)
    ratios: dict[int, float] = field(default_factory=dict)    # threads -> lite avg / onnxruntime avg
    skipped: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "results": [r.to_dict() for r in self.results],
                "lite_over_onnxruntime": self.ratios}


def _artifact(model_dir: Path, m, backend: str) -> Path:
    fmt, _ = BACKENDS[backend]
    arts = [a for a in m.artifacts if a.format in (fmt, "onnx-qdq")] if m else []
    if backend == "lite":
        arts = [a for a in arts if a.target == "x86"]
    if not arts:
        hint = ("export with --target x86 (Paddle Lite's x86 .nb runs here)" if backend == "lite"
                else "export with --onnx")
        raise MliteError(f"{str(model_dir)!r} has no {'x86 .nb' if backend == 'lite' else '.onnx'} for backend "
                         f"{backend}: {hint}")
    if backend == "lite" and m.to_dict().get("precision") == "int8":
        raise MliteError("Paddle Lite's x86 INT8 kernels return wrong values; bench INT8 with --backend onnxruntime")
    return model_dir / arts[0].path


def bench_local(model_dir: Path, backends: list[str], threads: list[int], warmup: int = 10, repeats: int = 30,
                timeout: float = 600, progress: bool = True, resume: bool = False) -> LocalBench:
    from .progress import Steps
    model_dir = Path(model_dir)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise MliteError(f"unknown --backend {','.join(unknown) or '(none)'}: choose from {', '.join(BACKENDS)}")
    if not threads or any(t < 1 for t in threads) or repeats < 1 or warmup < 0:
        raise MliteError("--threads must be >= 1, --repeats >= 1, --warmup >= 0")
    m = read_manifest(model_dir)
    if m is None:
        raise MliteError(f"{str(model_dir)!r} has no manifest.json: pass a directory written by 'mlite export'")
    md = m.to_dict()
    files = {b: _artifact(model_dir, m, b) for b in backends}
    file_sha = {b: sha256_file(f) for b, f in files.items()}
    dev = LocalDevice()
    info = dev.info()
    runner = Path(sys.executable).parent / "mlite-runner"
    out = LocalBench(md["model"])
    runner_sha = sha256_file(runner)
    done = stored_keys(model_dir / "bench") if resume else set()
    with Steps(f"bench {md['model']} on this host", len(backends) * len(threads), show=progress) as steps:
        for t in threads:
            for b in backends:
                key = result_key(file_sha[b], info.serial, b, t, warmup, repeats, 0, runner_sha)
                if key in done:
                    out.skipped.append((b, t))
                    steps.advance()
                    continue
                rs = RunnerSettings(str(files[b]), tuple(md["input_shape"]), BACKENDS[b][1], t, warmup, repeats)
                perf, version = _run_runner(dev, str(runner), rs, timeout)
                res = BenchResult(device=info.to_dict(), model=md["model"], model_file=files[b].name,
                                  precision=md.get("precision", "fp32"), weights=md["weights"]["label"], backend=b,
                                  threads=t, warmup=warmup, repeats=repeats, power_mode=0, perf=perf.to_dict(),
                                  storage_bytes=files[b].stat().st_size,
                                  runner={"path": str(runner), "sha256": runner_sha, "version": version},
                                  timestamp=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                  settings={"input_shape": md["input_shape"]}, key=key)
                out.results.append(res)
                _store(model_dir / "bench", res)
                steps.advance()
            by = {r.backend: r.perf["avg_ms"] for r in out.results if r.threads == t}
            if "lite" in by and "onnxruntime" in by:
                out.ratios[t] = round(by["lite"] / by["onnxruntime"], 3)
    return out
