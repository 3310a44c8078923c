"""Benchmark: export every FP32 zoo model (random weights, arm) and compare .nb size with the seed.

The seed's Storage column mixes MB and MiB, so a size is within tolerance when it matches the
reference in either unit. Writes benchmarks/results/export_fp32.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

TOLERANCE = 0.07


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", help="comma-separated subset (default: all FP32 models)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "export_fp32.json"))
    args = ap.parse_args(argv)

    from toolkit import api, zoo
    from toolkit.errors import MliteError
    names = args.models.split(",") if args.models else [n for n, s in zoo.registry().items() if not s.int8]
    rows, t_all = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlite-bench-") as work:
        for i, name in enumerate(names, 1):
            spec = zoo.get(name)
            t0 = time.perf_counter()
            try:
                res = api.export(name, weights="random", target="arm", out=work, progress=False).fp32
            except MliteError as e:
                rows.append({"model": name, "ok": False, "error": str(e)})
                print(f"[{i}/{len(names)}] {name}: FAILED {e}", flush=True)
                continue
            nb = next(a for a in res.artifacts if a.format == "paddle-lite-nb")
            ref = spec.reference.storage_mb
            mb, mib = nb.bytes / 1e6, nb.bytes / 2**20
            dev = min(abs(mb / ref - 1), abs(mib / ref - 1)) if ref else None
            rows.append({"model": name, "ok": True, "nb_bytes": nb.bytes, "nb_mb": round(mb, 3),
                         "nb_mib": round(mib, 3), "reference_storage_mb": ref,
                         "params": res.manifest["params"],
                         "deviation": None if dev is None else round(dev, 4),
                         "within_tolerance": dev is not None and dev <= TOLERANCE,
                         "timings_s": res.manifest["timings_s"], "total_s": round(time.perf_counter() - t0, 2),
                         "parity_rel": [c["relative"] for c in res.manifest["parity"]]})
            r = rows[-1]
            print(f"[{i}/{len(names)}] {name:<34} {mb:7.2f} MB {mib:7.2f} MiB  ref {ref:6.1f}  "
                  f"dev {dev:6.1%}  {'ok' if r['within_tolerance'] else 'OUT OF TOLERANCE'}  {r['total_s']:.1f} s",
                  flush=True)
    ok = [r for r in rows if r["ok"]]
    summary = {"models": len(rows), "exported": len(ok),
               "within_tolerance": sum(r["within_tolerance"] for r in ok), "tolerance": TOLERANCE,
               "wall_s": round(time.perf_counter() - t_all, 1), "machine": platform.platform(),
               "python": sys.version.split()[0]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    print(json.dumps(summary))
    return 0 if summary["exported"] == len(rows) and summary["within_tolerance"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
