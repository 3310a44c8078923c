"""Benchmark: every zoo model's FP32 and INT8 ARM .nb on Paddle Lite's ARM kernels (mlite-arm-runner).

For each of the 36 distinct models (random weights, synthetic calibration): export FP32 + INT8 for
--target arm (the export itself checks the FP32 .nb on ARM kernels against Paddle, and the INT8 .nb
against Paddle's simulated INT8 and FP32), then time both files with the static runner.
On an x86 host the runner runs under qemu-user: outputs are ARM's, times are **emulated CPU, not a
phone latency** (stored with "emulated": true, never beside device tables).
Writes benchmarks/results/arm.json after every model (a long sweep keeps what it measured).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def time_nb(nb: Path, input_shape, runner: Path, threads: int, warmup: int, repeats: int) -> dict:
    from toolkit import device_exec
    from toolkit.bench import RunnerSettings
    from toolkit.devices.local import LocalDevice
    rs = RunnerSettings(str(nb), tuple(input_shape), "arm", threads, warmup, repeats)
    perf, meta = device_exec.run(LocalDevice(), str(runner), rs, timeout=1800)
    return {"threads": threads, "avg_ms": perf.avg_ms, "p50_ms": perf.p50_ms, "init_ms": perf.init_ms,
            "peak_rss_mb": (perf.memory_mb or {}).get("peak"), "emulated": meta.emulated}


def _resumed(out: Path, names: list[str], settings: dict) -> list[dict]:
    """Rows of an earlier sweep with the same runner and settings, for the models still asked for."""
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        return []
    if any(old.get(k) != v for k, v in settings.items()):
        return []
    base = lambda m: m.removesuffix("_int8")  # noqa: E731
    done = {base(r["model"]) for r in old.get("rows", []) if r.get("ok") and r.get("precision") == "int8"}
    return [r for r in old.get("rows", []) if r.get("ok") and base(r["model"]) in done and base(r["model"]) in names]


def sweep(names, work: Path, out: Path, warmup: int, repeats: int, threads: list[int], resume: bool = False) -> dict:
    from toolkit import api, runners
    from toolkit.errors import MliteError
    found = runners.host_arm_runner()
    if found is None:
        raise SystemExit("benchmarks.arm: no usable ARM runner here: run 'make arm-runner arm-qemu' (root) first")
    runner, meta = found
    result = {"runner": str(runner), "lite_version": meta.lite_version, "emulated": meta.emulated,
              "note": "emulated CPU (qemu-user): outputs are ARM's, times are not a phone latency" if meta.emulated
              else "native ARM host", "warmup": warmup, "repeats": repeats, "threads": threads, "rows": []}
    if resume:
        keep = ("runner", "lite_version", "emulated", "warmup", "repeats", "threads")
        result["rows"] = _resumed(out, names, {k: result[k] for k in keep if k != "runner"})
    finished = {r["model"].removesuffix("_int8") for r in result["rows"]}
    for i, name in enumerate(names, 1):
        if name in finished:
            print(f"[{i}/{len(names)}] {name}: measured in an earlier run (--resume)", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            res = api.export(name, weights="random", out=work, int8=api.Int8Options(), progress=False)
        except MliteError as e:
            result["rows"].append({"model": name, "ok": False, "error": str(e)})
            print(f"[{i}/{len(names)}] {name}: FAILED {e}", flush=True)
            continue
        for stage in (res.fp32, res.int8):
            m = stage.manifest
            nb = next(stage.directory / a.path for a in stage.artifacts if a.format == "paddle-lite-nb")
            row = {"model": stage.model, "ok": True, "precision": m["precision"], "nb_bytes": nb.stat().st_size,
                   "params": m["params"]}
            if m["precision"] == "fp32":
                check = m["parity"][0]
                row.update({"parity_engine": check["backend"], "parity_relative": check["relative"],
                            "parity_ok": check["ok"]})
            else:
                c = m["checks"]
                row.update({"parity_engine": c["lite_arm"],
                            "top1_agreement_vs_paddle_int8": c["lite_arm_int8_vs_paddle_int8"]["top1_agreement"],
                            "mean_rel_diff_vs_paddle_int8": c["lite_arm_int8_vs_paddle_int8"]["mean_rel_diff"],
                            "top1_agreement_vs_fp32": c["lite_arm_int8_vs_fp32"]["top1_agreement"]})
            row["emulated_timing"] = [time_nb(nb, m["input_shape"], runner, t, warmup, repeats) for t in threads]
            result["rows"].append(row)
            t1 = row["emulated_timing"][0]
            print(f"[{i}/{len(names)}] {stage.model:<36} {row['nb_bytes'] / 1e6:6.2f} MB  "
                  + (f"parity {row['parity_relative']:.1e}" if "parity_relative" in row else
                     f"agree {row['top1_agreement_vs_paddle_int8']:.0%} vs Paddle INT8")
                  + f"  emulated t1 {t1['avg_ms']:.1f} ms  peak {t1['peak_rss_mb']:.0f} MB", flush=True)
        print(f"    {time.perf_counter() - t0:.0f} s", flush=True)
        _write(out, result)
    ok = [r for r in result["rows"] if r["ok"]]
    result["summary"] = {
        "files": len(ok), "fp32": sum(r["precision"] == "fp32" for r in ok),
        "int8": sum(r["precision"] == "int8" for r in ok),
        "fp32_parity_max_relative": max((r["parity_relative"] for r in ok if "parity_relative" in r), default=None),
        "fp32_parity_all_ok": all(r["parity_ok"] for r in ok if "parity_ok" in r),
        "int8_min_agreement_vs_paddle_int8": min((r["top1_agreement_vs_paddle_int8"] for r in ok
                                                  if "top1_agreement_vs_paddle_int8" in r), default=None),
        "failed": [r["model"] for r in result["rows"] if not r["ok"]]}
    _write(out, result)
    return result


def _write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", help="comma-separated subset (default: the 36 distinct zoo models)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="thread counts timed (emulated)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "arm.json"))
    ap.add_argument("--resume", action="store_true", help="keep the models an earlier sweep into --out measured")
    args = ap.parse_args(argv)
    from toolkit import zoo
    names = args.models.split(",") if args.models else [n for n, s in zoo.registry().items() if not s.int8]
    with tempfile.TemporaryDirectory(prefix="mlite-bench-arm-") as work:
        result = sweep(names, Path(work), Path(args.out), args.warmup, args.repeats,
                       [int(t) for t in args.threads.split(",")], resume=args.resume)
    print(json.dumps(result["summary"]), flush=True)
    return 0 if not result["summary"]["failed"] and result["summary"]["fp32_parity_all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
