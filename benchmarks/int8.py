"""Benchmark: INT8 (PaddleSlim PTQ) for the zoo and accuracy on the digits data.

1. Every zoo model (random weights, synthetic calibration, arm): INT8 .nb size, bytes/parameter
   (goal <= 1.2), PTQ seconds, size vs FP32.
2. Digits: MobileNetV3_small_x0_35 trained here (32x32, 10 classes); FP32 vs INT8 top-1 for each
   calibration algorithm, with drop and top-1 agreement (Paddle executor), and ONNX Runtime's QDQ top-1.
3. Digits, other families (GhostNet_x0_5, ShuffleNetV2_x0_5) trained here: FP32 and INT8 top-1 in Paddle,
   ONNX Runtime and Paddle Lite's ARM kernels, and Lite-vs-Paddle INT8 agreement on the test images.
Writes benchmarks/results/int8.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

GOAL_BYTES_PER_PARAM = 1.2


def nb_sections(path: Path) -> tuple[int, int]:
    """(topology bytes, params bytes) of a Paddle Lite naive-buffer .nb (v2.13: u16 meta, 16-byte
    version, u64 topology size, topology, params)."""
    import struct
    data = path.read_bytes()
    topo = struct.unpack("<Q", data[18:26])[0]
    return topo, len(data) - 26 - topo


def zoo_sizes(names, work: Path) -> list[dict]:
    from toolkit import api
    from toolkit.errors import MliteError
    rows = []
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        try:
            res = api.export(name, weights="random", out=work, int8=api.Int8Options(), progress=False)
        except MliteError as e:
            rows.append({"model": name, "ok": False, "error": str(e)})
            print(f"[{i}/{len(names)}] {name}: FAILED {e}", flush=True)
            continue
        m8, m32 = res.int8.manifest, res.fp32.manifest
        nb8 = next(a for a in m8["artifacts"] if a["format"] == "paddle-lite-nb")["bytes"]
        nb32 = next(a for a in m32["artifacts"] if a["format"] == "paddle-lite-nb")["bytes"]
        row = {"model": res.int8.model, "ok": True, "params": m8["params"], "int8_nb_bytes": nb8,
               "fp32_nb_bytes": nb32, "int8_mb": round(nb8 / 1e6, 3), "bytes_per_param": m8["bytes_per_param"],
               "within_goal": m8["bytes_per_param"] <= GOAL_BYTES_PER_PARAM, "size_ratio_vs_fp32": round(nb8 / nb32, 3),
               "ptq_s": m8["quant_seconds"], "total_s": round(time.perf_counter() - t0, 1)}
        nb_path = next(res.int8.directory / a["path"] for a in m8["artifacts"] if a["format"] == "paddle-lite-nb")
        topo, params_part = nb_sections(nb_path)
        row.update({"nb_topology_bytes": topo, "nb_params_bytes": params_part,
                    "params_section_bytes_per_param": round(params_part / m8["params"], 4),
                    "graph_simplified": m8.get("graph_simplified")})
        rows.append(row)
        print(f"[{i}/{len(names)}] {row['model']:<36} {row['int8_mb']:6.2f} MB  {row['bytes_per_param']:.3f} B/param  "
              f"x{row['size_ratio_vs_fp32']:.3f} of FP32  topology {topo / 1e3:.0f} kB  PTQ {row['ptq_s']:.1f} s", flush=True)
    return rows


MAX_DROP = 1.0     # points: the budget of the mixed-precision rows (mlite quantize --max-drop)


def digits_table(work: Path, algos) -> dict:
    from tests.fixtures.digits import MODEL, train_digits
    from toolkit import api
    t0 = time.perf_counter()
    d = train_digits(work / "digits")
    train_s = round(time.perf_counter() - t0, 1)
    out = work / "digits_out"
    fp32 = api.export(MODEL, weights=str(d.weights), image_size=32, onnx=True, out=out, progress=False).fp32
    from toolkit import runners
    arm = runners.host_arm_runner() is not None       # the .nb files on Paddle Lite's ARM kernels (qemu-user here)
    arm_fp32 = api.evaluate(fp32.directory, d.test, device="local") if arm else None
    ort_fp32 = api.evaluate(fp32.directory, d.test, backend="onnxruntime")
    rows = []
    for algo in algos:
        t1 = time.perf_counter()
        q = api.quantize(fp32.directory, out=out / algo, onnx=True, progress=False,
                         options=api.Int8Options(calib=d.train, calib_size=200, algo=algo))
        ptq_s = round(time.perf_counter() - t1, 1)
        r = api.evaluate(q.directory, d.test)
        ort = api.evaluate(q.directory, d.test, backend="onnxruntime")
        lite = api.evaluate(q.directory, d.test, device="local") if arm else None
        onnx_bytes = next(a.bytes for a in q.artifacts if a.format == "onnx-qdq")
        rows.append({"algo": algo, "fp32_top1": r.fp32_top1, "int8_top1": r.top1, "drop_points": r.top1_drop,
                     "agreement": r.agreement, "onnxruntime_int8_top1": ort.top1,
                     "lite_arm_int8_top1": lite.top1 if lite else None,
                     "lite_arm_agreement_with_paddle_int8": lite.host_agreement if lite else None,
                     "lite_arm_engine": lite.engine if lite else "no ARM runner on this host",
                     "ptq_s": ptq_s, "int8_nb_bytes": next(a.bytes for a in q.artifacts if a.format == "paddle-lite-nb"),
                     "int8_onnx_bytes": onnx_bytes, "int8_onnx_bytes_per_param": round(onnx_bytes / q.manifest["params"], 4)})
        arm_text = f"  Lite-ARM {lite.top1:.2%} (agree {lite.host_agreement:.2%})" if lite else ""
        print(f"digits {algo:<8} FP32 {r.fp32_top1:.2%}  INT8 {r.top1:.2%}  drop {r.top1_drop:+.2f}  "
              f"agree {r.agreement:.2%}  ORT-QDQ {ort.top1:.2%} ({onnx_bytes / q.manifest['params']:.2f} B/param)"
              f"{arm_text}  PTQ {ptq_s:.1f} s", flush=True)
    mixed = []
    for algo in [r["algo"] for r in rows if r["drop_points"] > MAX_DROP]:
        t1 = time.perf_counter()
        q = api.quantize(fp32.directory, out=out / f"{algo}_mixed", onnx=True, progress=False,
                         options=api.Int8Options(calib=d.train, calib_size=200, algo=algo, max_drop=MAX_DROP,
                                                 val=d.test))
        mx = q.manifest["mixed"]
        ort = api.evaluate(q.directory, d.test, backend="onnxruntime")
        lite = api.evaluate(q.directory, d.test, device="local") if arm else None
        mixed.append({"algo": algo, "max_drop": MAX_DROP, "int8_drop_points": next(r["drop_points"] for r in rows
                                                                                  if r["algo"] == algo),
                      "fp32_layers": mx["fp32_layers"], "layers": len(json.loads(
                          (q.directory / "sensitivity.json").read_text())["rows"]),
                      "mixed_top1": mx["top1"], "mixed_drop_points": mx["drop_points"],
                      "onnxruntime_top1": ort.top1, "lite_arm_top1": lite.top1 if lite else None,
                      "int8_nb_bytes": next(a.bytes for a in q.artifacts if a.format == "paddle-lite-nb"),
                      "seconds": round(time.perf_counter() - t1, 1)})
        print(f"digits {algo:<8} mixed: {len(mx['fp32_layers'])} FP32 layer(s), drop {mx['drop_points']:+.2f}  "
              f"ORT {ort.top1:.2%}" + (f"  Lite-ARM {lite.top1:.2%}" if lite else ""), flush=True)
    return {"model": MODEL, "train_images": sum(1 for _ in d.train.rglob("*.png")),
            "test_images": sum(1 for _ in d.test.rglob("*.png")), "train_s": train_s,
            "calibration_images": 200, "lite_arm_fp32_top1": arm_fp32.top1 if arm_fp32 else None,
            "onnxruntime_fp32_top1": ort_fp32.top1,
            "engines": {"int8_top1": "Paddle static executor (simulated INT8)",
                        "onnxruntime_int8_top1": "ONNX Runtime CPU on the QDQ export",
                        "lite_arm_int8_top1": "the INT8 .nb on Paddle Lite's ARM kernels (mlite-arm-runner)"},
            "rows": rows, "mixed_precision": mixed}


OTHER_DIGITS = ("GhostNet_x0_5", "ShuffleNetV2_x0_5")


def digits_engines(work: Path, model: str) -> dict:
    """A trained ``model`` on digits: FP32 and INT8 (hist) top-1 in every engine, and how far Lite ARM's INT8
    is from Paddle's simulation on real inputs (the random-weight zoo sweep cannot tell: see arm.json)."""
    from tests.fixtures.digits import train_digits
    from toolkit import api, runners
    t0 = time.perf_counter()
    d = train_digits(work / f"digits_{model}", model=model)
    res = api.export(model, weights=str(d.weights), image_size=32, onnx=True, out=work / f"out_{model}",
                     progress=False, int8=api.Int8Options(calib=d.train, calib_size=200))
    row = {"model": model, "train_s": round(time.perf_counter() - t0, 1),
           "fp32_paddle": api.evaluate(res.fp32.directory, d.test).top1,
           "fp32_onnxruntime": api.evaluate(res.fp32.directory, d.test, backend="onnxruntime").top1,
           "int8_onnxruntime": api.evaluate(res.int8.directory, d.test, backend="onnxruntime").top1,
           "synthetic_inputs_lite_vs_paddle_int8": res.int8.manifest["checks"].get("lite_arm_int8_vs_paddle_int8")}
    if runners.host_arm_runner() is not None:
        lite32 = api.evaluate(res.fp32.directory, d.test, device="local")
        lite8 = api.evaluate(res.int8.directory, d.test, device="local")
        row.update({"fp32_lite_arm": lite32.top1, "int8_lite_arm": lite8.top1, "int8_paddle": lite8.host_top1,
                    "int8_lite_arm_vs_paddle_agreement": lite8.host_agreement, "lite_arm_engine": lite8.engine})
    else:
        row["int8_paddle"] = api.evaluate(res.int8.directory, d.test).top1
    print(f"digits {model}: " + "  ".join(f"{k} {v:.2%}" for k, v in row.items()
                                          if isinstance(v, float) and k != "train_s"), flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", help="comma-separated subset (default: all 37)")
    ap.add_argument("--skip-zoo", action="store_true")
    ap.add_argument("--skip-digits", action="store_true")
    ap.add_argument("--digits-part", choices=("all", "main", "other"), default="all",
                    help="main: the calibration-algorithm table; other: the other families' engine rows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "int8.json"))
    args = ap.parse_args(argv)
    from quant.ptq import ALGOS
    from toolkit import zoo
    names = args.models.split(",") if args.models else list(zoo.registry())
    # An _int8 zoo name and its base give the same INT8 model: run each INT8 model once.
    names = [n for n in names if not (f"{n}_int8" in names)]
    out = Path(args.out)
    try:                      # a partial rerun (--skip-zoo / --skip-digits) keeps the other part's numbers
        result = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {}
    result["goal_bytes_per_param"] = GOAL_BYTES_PER_PARAM
    with tempfile.TemporaryDirectory(prefix="mlite-bench-int8-") as work:
        if not args.skip_zoo:
            rows = zoo_sizes(names, Path(work))
            ok = [r for r in rows if r["ok"]]
            result["zoo"] = {"rows": rows, "models": len(rows), "ok": len(ok),
                             "within_goal": sum(r["within_goal"] for r in ok)}
            print(json.dumps({k: v for k, v in result["zoo"].items() if k != "rows"}), flush=True)
        if not args.skip_digits and args.digits_part in ("all", "main"):
            result["digits"] = digits_table(Path(work), list(ALGOS))
        if not args.skip_digits and args.digits_part in ("all", "other"):
            result["digits_other_models"] = [digits_engines(Path(work), m) for m in OTHER_DIGITS]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    zoo_ok = args.skip_zoo or result["zoo"]["ok"] == result["zoo"]["models"]
    return 0 if zoo_ok else 1


if __name__ == "__main__":
    sys.exit(main())
