"""Benchmark: `mlite bench --local` repeatability and Paddle Lite x86 vs ONNX Runtime per family.

1. Repeatability: three separate `mlite bench --local` runs of one model (threads 1, 5 interleaved
   rounds of warmup 20 + 60 timed runs = 300 per backend); the spread of the three medians,
   (max - min) / mean, should be <= 5% per backend. Also recorded: each run's host speed drift
   (reference kernel) and the spread of the speed-independent ref_units_p50.
2. Lite x86 / ONNX Runtime average-latency ratio at 1 and 2 threads, one model per family.
Random weights (latency does not depend on them). Writes benchmarks/results/devices.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPEAT_MODEL = "MobileNetV3_small_x1_0"
FAMILY_MODELS = ["MobileNetV1", "MobileNetV2", "MobileNetV3_small_x1_0", "ShuffleNetV2", "GhostNet_x1_0"]
GOAL_SPREAD = 0.05
# This VM's speed drifts between and within runs: spread each backend's runs over interleaved rounds.
REPEAT_WARMUP, REPEAT_REPEATS, REPEAT_ROUNDS = 20, 60, 5


def _mlite(*args) -> dict:
    p = subprocess.run([str(Path(sys.executable).parent / "mlite"), *map(str, args), "--json"],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) / (sum(values) / len(values))


def main() -> int:
    from toolkit import api
    result = {}
    with tempfile.TemporaryDirectory(prefix="mlite-bench-dev-") as work:
        dirs = {m: api.export(m, weights="random", target="x86", onnx=True, out=work, progress=False).fp32.directory
                for m in dict.fromkeys([REPEAT_MODEL, *FAMILY_MODELS])}
        medians = {"lite": [], "onnxruntime": []}
        units = {"lite": [], "onnxruntime": []}
        drift = {"lite": [], "onnxruntime": []}
        for i in range(3):
            res = _mlite("bench", "--local", "--model-dir", dirs[REPEAT_MODEL], "--threads", "1",
                         "--warmup", REPEAT_WARMUP, "--repeats", REPEAT_REPEATS, "--rounds", REPEAT_ROUNDS)
            for r in res["results"]:
                medians[r["backend"]].append(r["perf"]["p50_ms"])
                units[r["backend"]].append(r["perf"]["ref_units_p50"])
                drift[r["backend"]].append(r["perf"]["host_drift"])
            print(f"repeatability run {i + 1}: " + ", ".join(
                f"{b} p50 {v[-1]:.2f} ms ({units[b][-1]:.1f} ref units, host drift {drift[b][-1]:.0%})"
                for b, v in medians.items()), flush=True)
        spread = {b: _spread(v) for b, v in medians.items()}
        result["repeatability"] = {"model": REPEAT_MODEL, "threads": 1, "warmup": REPEAT_WARMUP,
                                   "repeats_per_round": REPEAT_REPEATS, "rounds": REPEAT_ROUNDS,
                                   "medians_ms": medians, "spread": {b: round(s, 4) for b, s in spread.items()},
                                   "goal": GOAL_SPREAD, "ok": all(s <= GOAL_SPREAD for s in spread.values()),
                                   "host_drift_per_run": drift, "ref_units_p50": units,
                                   "ref_units_spread": {b: round(_spread(v), 4) for b, v in units.items()}}
        print("spread of medians: " + ", ".join(f"{b} {s:.1%}" for b, s in spread.items())
              + "; of ref units: " + ", ".join(f"{b} {_spread(v):.1%}" for b, v in units.items()), flush=True)
        rows = []
        for m in FAMILY_MODELS:
            res = _mlite("bench", "--local", "--model-dir", dirs[m], "--threads", "1,2")
            avg = {(r["backend"], r["threads"]): r["perf"]["avg_ms"] for r in res["results"]}
            row = {"model": m, "lite_ms": {t: avg[("lite", t)] for t in (1, 2)},
                   "onnxruntime_ms": {t: avg[("onnxruntime", t)] for t in (1, 2)},
                   "lite_over_onnxruntime": res["lite_over_onnxruntime"]}
            rows.append(row)
            print(f"{m:<26} lite {row['lite_ms'][1]:7.2f}/{row['lite_ms'][2]:7.2f} ms  "
                  f"ORT {row['onnxruntime_ms'][1]:7.2f}/{row['onnxruntime_ms'][2]:7.2f} ms  "
                  f"ratio t1 {row['lite_over_onnxruntime']['1']:.2f} t2 {row['lite_over_onnxruntime']['2']:.2f}",
                  flush=True)
        result["lite_vs_onnxruntime"] = rows
    out = Path(__file__).parent / "results" / "devices.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["repeatability"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
