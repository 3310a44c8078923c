"""`mlite bench --local`: the runner contract on this host, Paddle Lite x86 and ONNX Runtime side by side."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import companions, ensure_writable_dir, model_sha, precision_label, read_verified, sha256_file
from .bench import BenchResult, Perf, RunnerSettings, result_key, stored_keys
from .devices.local import LocalDevice
from .errors import MliteError
from .device_exec import run as run_runner
from .push import _store

# backend -> (artifact format in the manifest, runner --backend)
BACKENDS = {"lite": ("paddle-lite-nb", "x86"), "onnxruntime": ("onnx", "onnxruntime"), "ncnn": ("ncnn-param", "ncnn")}
HINTS = {"lite": ("x86 .nb", "export with --target x86 (Paddle Lite's x86 .nb runs here)"),
         "onnxruntime": (".onnx", "export with --onnx"), "ncnn": ("ncnn .param/.bin", "export with --ncnn")}
# Above this, medians of separate runs will not agree within 5%: say so.
NOISY = 0.05


@dataclass
class LocalBench:
    model: str
    results: list[BenchResult] = field(default_factory=list)
    ratios: dict[int, float] = field(default_factory=dict)    # threads -> lite avg / onnxruntime avg
    skipped: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "results": [r.to_dict() for r in self.results],
                "lite_over_onnxruntime": self.ratios, "warnings": self.warnings}


def _artifact(model_dir: Path, m, backend: str) -> Path:
    fmt, _ = BACKENDS[backend]
    formats = (fmt, "onnx-qdq") if backend == "onnxruntime" else (fmt,)
    arts = [a for a in m.artifacts if a.format in formats] if m else []
    if backend == "lite":
        arts = [a for a in arts if a.target == "x86"]
    if not arts and m and m.to_dict().get("precision") == "fp16":
        raise MliteError(f"{str(model_dir)!r} is a baked FP16 ARM .nb: it runs on ARMv8.2 CPUs with FP16 arithmetic "
                         "only; measure it with 'mlite push --adb/--ssh' on such a device (or 'mlite eval --device "
                         "local' under qemu), and bench its FP32 source here")
    if not arts:
        what, hint = HINTS[backend]
        raise MliteError(f"{str(model_dir)!r} has no {what} for backend {backend}: {hint}")
    if backend == "lite" and m.to_dict().get("precision") == "int8":
        raise MliteError("Paddle Lite's x86 INT8 kernels return wrong values; bench INT8 with --backend onnxruntime")
    return model_dir / arts[0].path


def bench_local(model_dir: Path, backends: list[str], threads: list[int], warmup: int = 10, repeats: int = 30,
                timeout: float = 600, progress: bool = True, resume: bool = False, rounds: int = 1) -> LocalBench:
    """Benchmark each backend at each thread count.

    ``rounds`` > 1 runs the runner that many times per (backend, threads), as separate processes
    with the backends interleaved (lite, ort, ort, lite, ...), and pools their timed runs: process
    placement and the host's speed drift then hit every backend alike. The runner also times a
    reference kernel after each run, so every result carries the host's drift during it.
    """
    from .progress import Steps
    model_dir = Path(model_dir)
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise MliteError(f"unknown --backend {','.join(unknown) or '(none)'}: choose from {', '.join(BACKENDS)}")
    if not threads or any(t < 1 for t in threads) or repeats < 1 or warmup < 0 or rounds < 1:
        raise MliteError("--threads must be >= 1, --repeats >= 1, --warmup >= 0, --rounds >= 1")
    m = read_verified(model_dir)
    if m is None:
        raise MliteError(f"{str(model_dir)!r} has no manifest.json: pass a directory written by 'mlite export'")
    md = m.to_dict()
    files = {b: _artifact(model_dir, m, b) for b in backends}
    file_sha = {b: model_sha(f) for b, f in files.items()}
    dev = LocalDevice()
    info = dev.info()
    runner = Path(sys.executable).parent / "mlite-runner"
    out = LocalBench(md["model"])
    runner_sha = sha256_file(runner)
    ensure_writable_dir(model_dir / "bench", "--model-dir")    # fail before the runs, not after them
    done = stored_keys(model_dir / "bench") if resume else set()
    with Steps(f"bench {md['model']} on this host", len(backends) * len(threads) * rounds, show=progress) as steps:
        for t in threads:
            keys = {b: result_key(file_sha[b], info.serial, b, t, warmup, repeats, 0, runner_sha, rounds)
                    for b in backends}
            todo = [b for b in backends if keys[b] not in done]
            out.skipped.extend((b, t) for b in backends if b not in todo)
            steps.advance((len(backends) - len(todo)) * rounds)
            per_round: dict[str, list[Perf]] = {b: [] for b in todo}
            version = {}
            for i in range(rounds):
                for b in (todo if i % 2 == 0 else todo[::-1]):
                    rs = RunnerSettings(model_file=str(files[b]), input_shape=tuple(md["input_shape"]),
                                        backend=BACKENDS[b][1], threads=t, warmup=warmup, repeats=repeats,
                                        speed_ref=True)
                    perf, meta = run_runner(dev, str(runner), rs, timeout)
                    version[b] = meta.name
                    per_round[b].append(perf)
                    steps.advance()
            for b in todo:
                res = _result(md, info, files[b], b, t, warmup, repeats, per_round[b], runner, runner_sha,
                              version[b], keys[b])
                out.results.append(res)
                _store(model_dir / "bench", res)
                _warn_if_noisy(out, res)
            by = {r.backend: r.perf["avg_ms"] for r in out.results if r.threads == t}
            if "lite" in by and "onnxruntime" in by:
                out.ratios[t] = round(by["lite"] / by["onnxruntime"], 3)
    return out


def _result(md, info, file: Path, backend: str, threads: int, warmup: int, repeats: int, rounds: list[Perf],
            runner: Path, runner_sha: str, version, key: str) -> BenchResult:
    perf = Perf.pooled(rounds)
    medians = [p.p50_ms for p in rounds]
    settings = {"input_shape": md["input_shape"], "rounds": len(rounds),
                "round_p50_ms": [round(m, 3) for m in medians if m is not None]}
    if len(settings["round_p50_ms"]) > 1:
        v = settings["round_p50_ms"]
        settings["round_spread"] = round((max(v) - min(v)) / (sum(v) / len(v)), 4)
    return BenchResult(device=info.to_dict(), model=md["model"], model_file=file.name,
                       precision=precision_label(md), weights=md["weights"]["label"], backend=backend,
                       threads=threads, warmup=warmup, repeats=repeats * len(rounds), power_mode=0,
                       perf=perf.to_dict(), storage_bytes=sum(f.stat().st_size for f in companions(file)),
                       runner={"path": str(runner), "sha256": runner_sha, "version": version},
                       timestamp=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                       settings=settings, key=key,
                       load=None if perf.init_ms is None else {
                           "init_ms": perf.init_ms, "cache": "warm",
                           "note": "this host's page cache is not dropped (it would slow every other process)"})


def _warn_if_noisy(out: LocalBench, res: BenchResult) -> None:
    drift, spread = res.perf.get("host_drift") or 0, res.settings.get("round_spread") or 0
    if max(drift, spread) > NOISY:
        out.warnings.append(
            f"{res.backend} t{res.threads}: this host's speed drifted {drift:.0%} during the run (reference kernel; "
            f"round medians {spread:.0%} apart): medians of separate runs may differ as much; compare models "
            "within one run (ratios, ref_units_p50), raise --rounds, or use a quieter machine")
