"""Benchmark: SSLD on digits (labelled 10% / unlabelled / test) — teacher, student alone, SSLD student,
SSLD + INT8, with wall times. Writes benchmarks/results/ssld.json."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

STUDENT = "MobileNetV3_small_x0_35"


def main() -> int:
    from quant.ssld import DistillConfig, distill
    from tests.fixtures.digits import TEACHER, semi_supervised
    from toolkit import api
    with tempfile.TemporaryDirectory(prefix="mlite-bench-ssld-") as work:
        work = Path(work)
        t0 = time.perf_counter()
        ssl = semi_supervised(work / "data")
        t_base = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        res = distill(DistillConfig(STUDENT, TEACHER, ssl.labelled, ssl.unlabelled, None, "random", str(ssl.teacher_weights),
                                    epochs=10, batch_size=32, lr=0.05, image_size=32, out=work / "out", progress=False))
        t_ssld = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        ex = api.export(STUDENT, weights=str(res.weights), image_size=32, out=work / "exp", progress=False,
                        int8=api.Int8Options(calib=ssl.unlabelled, calib_size=200))
        t_int8 = round(time.perf_counter() - t0, 1)
        ev = api.evaluate(ex.int8.directory, ssl.test)
    rows = [{"model": f"teacher {TEACHER} (labelled only)", "top1": ssl.teacher_accuracy},
            {"model": f"student {STUDENT} alone (labelled only)", "top1": ssl.student_alone_accuracy},
            {"model": f"SSLD student {STUDENT} (labelled + unlabelled)", "top1": ev.fp32_top1, "wall_s": t_ssld},
            {"model": f"SSLD + INT8 {STUDENT}", "top1": ev.top1, "wall_s": t_int8}]
    out = {"rows": rows, "teacher_and_alone_training_s": t_base, "gain_points": round((ev.fp32_top1 - ssl.student_alone_accuracy) * 100, 2),
           "int8_drop_points": ev.top1_drop}
    for r in rows:
        print(f"{r['model']:<58} top-1 {r['top1']:.2%}" + (f"  {r['wall_s']:.0f} s" if "wall_s" in r else ""))
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
    p = Path(__file__).parent / "results" / "ssld.json"
    p.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["gain_points"] >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
