"""Benchmark: the zoo's ARM pipeline (#16): every FP32 model exported and INT8-quantized (36 + 36 .nb
files, random weights, synthetic calibration), as `mlite run --adb` makes them before any device run.

Runs the export stage of `mlite run` with ``--jobs`` 1 and/or 2 into fresh directories and records the
wall time, the sum of each stage's time over the models (from the manifests' ``timings_s``, PTQ phases
included) and whether both runs wrote the same bytes. Writes benchmarks/results/zoo_pipeline.json.

    python -m benchmarks.zoo_pipeline [--jobs 1,2] [--models A,B]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

GOAL_S = 360          # all 72 .nb in <= 6 minutes on 2 cores (with --jobs 2)


def export_zoo(names: list[str], jobs: int, out: Path) -> dict:
    from toolkit.progress import Steps
    from toolkit.run import RunConfig, _exports
    cfg = RunConfig(models=names, mode="adb", int8=True, weights="random", out=out, progress=False, jobs=jobs)
    t0 = time.perf_counter()
    failed = {}
    with Steps("zoo", len(names), show=False) as steps:
        for name, _dirs, error in _exports(cfg, "arm", False, steps):
            if error:
                failed[name] = error
            print(f"  jobs={jobs} {name}: {'FAILED ' + error if error else 'ok'} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    wall = time.perf_counter() - t0
    stages: Counter = Counter()
    digests = {}
    for m in sorted(out.glob("*/manifest.json")):
        md = json.loads(m.read_text())
        kind = "int8" if md.get("precision") == "int8" else "fp32"
        for step, secs in (md.get("timings_s") or {}).items():
            stages[f"{kind}:{step}"] += secs
        for f in sorted(m.parent.iterdir()):
            if f.is_file() and f.name != "manifest.json":
                digests[f"{m.parent.name}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    nbs = [k for k in digests if k.endswith(".nb")]
    return {"jobs": jobs, "wall_s": round(wall, 1), "nb_files": len(nbs), "failed": failed,
            "stage_sums_s": {k: round(v, 1) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
            "digests": digests}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to measure")
    ap.add_argument("--models", help="comma-separated subset (default: every FP32 zoo model)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "zoo_pipeline.json"))
    args = ap.parse_args(argv)
    from toolkit import zoo
    names = args.models.split(",") if args.models else [n for n, s in zoo.registry().items() if not s.int8]
    runs = []
    for jobs in [int(j) for j in args.jobs.split(",")]:
        with tempfile.TemporaryDirectory(prefix="mlite-zoo-") as work:
            runs.append(export_zoo(names, jobs, Path(work)))
        r = runs[-1]
        print(f"jobs={jobs}: {r['nb_files']} .nb in {r['wall_s']:.0f} s; top stages: "
              + ", ".join(f"{k} {v:.0f} s" for k, v in list(r["stage_sums_s"].items())[:6]), flush=True)
    same = len({json.dumps(r["digests"], sort_keys=True) for r in runs}) == 1
    best = min(runs, key=lambda r: r["wall_s"])
    summary = {"models": len(names), "goal_s": GOAL_S, "cores": os.cpu_count(), "same_bytes_across_jobs": same,
               "best_wall_s": best["wall_s"], "best_jobs": best["jobs"], "within_goal": best["wall_s"] <= GOAL_S,
               "machine": platform.platform(), "python": sys.version.split()[0]}
    for r in runs:
        r["digests"] = len(r["digests"])      # the comparison is in same_bytes_across_jobs
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
