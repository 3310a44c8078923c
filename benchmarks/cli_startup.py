"""Benchmark: wall time of `mlite --help` (goal < 0.5 s), median of 10 runs."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.5


def main() -> int:
    mlite = str(Path(sys.executable).parent / "mlite")
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run([mlite, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    res = {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4), "goal_s": GOAL_S,
           "ok": statistics.median(times) < GOAL_S}
    out = Path(__file__).parent / "results" / "cli_startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print("mlite --help:", json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
