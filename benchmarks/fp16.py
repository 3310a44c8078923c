"""Benchmark: FP16 on Paddle Lite's ARM FP16 kernels for every zoo model, plus FP16 accuracy on digits.

Zoo (36 distinct models): random weights whose BatchNorm statistics are calibrated on 16 standard-normal
images (``calibrated_weights``): plain random weights shrink the activations of MobileNetV2/V3, ShuffleNetV2 and
GhostNet layer after layer, to outputs of 1e-8..4e-5, below FP16's smallest normal number (6.1e-5), so FP16
rounds them away and the check measures the weights, not the kernels; calibrated, every layer's output has a
trained network's scale (O(1)), as pretrained weights would (they cannot be downloaded here).
``export --precision fp16`` (a baked FP16 .nb from
../shared/arm-fp16/bin/opt, published only after it ran on the FP16 kernels of mlite-arm-runner-fp16
within the FP16 tolerance of Paddle FP32, with no NaN); its parity, the file size next to the FP32 .nb,
and both files timed (FP32 .nb on the armv8-a runner, FP16 .nb on the armv8.2 one). A NaN probe runs the
same FP16 .nb at smaller inputs (32..224 px) to find which models and input sizes compute NaN, including
an all-zero input (NaN there is a kernel's, not an overflow of FP16's range).

Digits (scikit-learn's 8x8 digits at 32x32, 539 held-out images): three models trained here, FP32 top-1
on the armv8-a runtime against FP16 top-1 on the FP16 runtime (``eval --device local``), or the refusal.

On an x86 host both runners run under qemu-user: outputs are ARM's; times are **emulated CPU** (qemu
emulates FP16 arithmetic in software, so FP16 is not faster here as it is on an SD855: Paddle Lite's
Mi 9 table has MobileNetV1 29.04 -> 15.79 ms). Writes benchmarks/results/fp16.json after every model.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SIZES = (32, 48, 64, 96, 224)
DIGITS_MODELS = ("MobileNetV1_x0_25", "MobileNetV2_x0_25", "ShuffleNetV2_x0_25", "MobileNetV3_small_x0_35")


def _at_size(name: str, weights: str, s: int, work: Path) -> tuple[Path, Path]:
    """An FP32 export at ``s`` px and its FP16 .nb, for a program whose shapes are constants (ShuffleNetV2's
    channel shuffles are folded into fixed reshape2 shapes: it runs at its export size only)."""
    from converters import lite
    from toolkit import api
    d = api.export(name, weights=weights, image_size=s, out=work / f"size{s}", progress=False).fp32.directory
    nb = d / "probe_fp16.nb"
    if not nb.is_file():
        lite.optimize(d / "inference.pdmodel", d / "inference.pdiparams", lite.TARGETS["arm"], nb, fp16=True)
    return d, nb


def probe(fp32_dir: Path, nb: Path, sizes=SIZES, name: str | None = None, weights: str | None = None,
          work: Path | None = None) -> list[dict]:
    """The FP16 .nb at each input size (and all-zero at the smallest) against Paddle FP32."""
    import numpy as np
    from toolkit import device_exec, parity
    rows = []
    for s, kind in [(s, "fixed") for s in sizes] + [(sizes[0], "zeros")]:
        x = parity.fixed_input((2, 3, s, s))
        if kind == "zeros":
            x = np.zeros_like(x)
        d, f = fp32_dir, nb
        try:
            ref = parity.paddle_reference(d / "inference.pdmodel", d / "inference.pdiparams", x)
        except ValueError:                  # fixed shapes inside: export the model at this size
            d, f = _at_size(name, weights, s, work)
            ref = parity.paddle_reference(d / "inference.pdmodel", d / "inference.pdiparams", x)
        ref = np.asarray(ref, dtype="float64")
        run = device_exec.host_arm_infer(f, x, fp16=True)
        out = np.asarray(run.outputs, dtype="float64").reshape(ref.shape)
        finite = np.isfinite(out)
        scale = float(np.abs(ref).max())
        diff = float(np.abs(out - ref)[finite].max()) if finite.any() else None
        rows.append({"size": s, "input": kind, "non_finite": int((~finite).sum()), "values": int(out.size),
                     "scale": scale, "relative": diff / scale if diff is not None and scale > 0 else None,
                     "ran": run.meta.cpu_precision})
    return rows


def calibrated_weights(name: str, dest: Path, seed: int = 0) -> Path:
    """Random weights (``seed``) whose BatchNorm running statistics are those of 16 standard-normal 224x224
    images (one forward pass in train mode with momentum 0): a trained network's activation scales."""
    import numpy as np
    from toolkit import weights as weights_mod, zoo
    from toolkit.export import build_model
    from toolkit.paddle_env import import_paddle
    paddle = import_paddle()
    model, _ = build_model(zoo.get(name), weights_mod.Weights("random", seed=seed))
    for layer in model.sublayers():
        if hasattr(layer, "_momentum") and hasattr(layer, "_mean"):
            layer._momentum = 0.0
    model.train()
    x = np.random.RandomState(seed).standard_normal((16, 3, 224, 224)).astype("float32")
    with paddle.no_grad():
        model(paddle.to_tensor(x))
    model.eval()
    dest.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(model.state_dict(), str(dest))
    return dest


def _time(nb: Path, shape, runner: Path, warmup: int, repeats: int) -> dict:
    from benchmarks.arm import time_nb
    return time_nb(nb, shape, runner, 1, warmup, repeats)


def zoo_sweep(names, work: Path, out: Path, result: dict, warmup: int, repeats: int) -> None:
    from converters import lite
    from toolkit import api, runners
    from toolkit.errors import MliteError
    fp32_runner, _ = runners.host_arm_runner()
    fp16_runner, _ = runners.host_arm_runner(fp16=True)
    done = {r["model"] for r in result["zoo"]}
    for i, name in enumerate(names, 1):
        if name in done:
            continue
        t0 = time.perf_counter()
        row: dict = {"model": name, "weights": "random, BatchNorm statistics of 16 standard-normal images"}
        weights = str(calibrated_weights(name, work / "weights" / f"{name}.pdparams"))
        try:
            fp32 = api.export(name, weights=weights, out=work, progress=False).fp32
        except MliteError as e:
            result["zoo"].append(row | {"ok": False, "error": f"FP32 export: {e}"})
            continue
        nb32 = fp32.directory / f"{name}.nb"
        probe_nb = work / f"{name}_probe_fp16.nb"
        src = fp32.directory
        lite.optimize(src / "inference.pdmodel", src / "inference.pdiparams", lite.TARGETS["arm"], probe_nb, fp16=True)
        row["probe"] = probe(src, probe_nb, name=name, weights=weights, work=work)
        try:
            res = api.export(name, weights=weights, out=work, progress=False, fp16=True).fp16
            m = res.manifest
            nb16 = res.directory / f"{name}_fp16.nb"
            row.update({"ok": True, "parity_ok": m["fp16_check"]["ok"], "check": m["fp16_check"],
                        "fp16_bytes": nb16.stat().st_size,
                        "fp32_bytes": nb32.stat().st_size})
            shape = m["input_shape"]
            row["emulated_ms_t1"] = {"fp32": _time(nb32, shape, fp32_runner, warmup, repeats)["avg_ms"],
                                     "fp16": _time(nb16, shape, fp16_runner, warmup, repeats)["avg_ms"]}
        except MliteError as e:
            row.update({"ok": False, "error": str(e), "fp32_bytes": nb32.stat().st_size})
        probe_nb.unlink(missing_ok=True)
        result["zoo"].append(row)
        nan_at = [p["size"] for p in row["probe"] if p["non_finite"] and p["input"] == "fixed"]
        state = (("" if row["parity_ok"] else "UNDERFLOW (latency/size only) ") + f"rel {row['check']['relative']:.1e}  {row['fp16_bytes'] / 1e6:.2f} MB  emulated t1 "
                 f"{row['emulated_ms_t1']['fp32']:.0f} -> {row['emulated_ms_t1']['fp16']:.0f} ms") if row["ok"] \
            else f"REFUSED: {row['error'][:90]}"
        print(f"[{i}/{len(names)}] {name:<32} {state}  NaN at {nan_at or 'none'}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        _write(out, result)


def digits_table(work: Path, result: dict, epochs: int) -> None:
    from tests.fixtures.digits import train_digits
    from toolkit import api
    from toolkit.errors import MliteError
    result["digits"] = []
    for name in DIGITS_MODELS:
        t0 = time.perf_counter()
        d = train_digits(work / f"digits_{name}", epochs=epochs, model=name)
        out = work / f"digits_out_{name}"
        row = {"model": name, "image_size": 32, "epochs": epochs, "paddle_fp32_top1": d.held_out_accuracy}
        res = api.export(name, weights=str(d.weights), out=out, image_size=32, num_classes=10, progress=False)
        row["lite_arm_fp32_top1"] = api.evaluate(res.fp32.directory, d.test, device="local").top1
        try:
            fp16 = api.export(name, weights=str(d.weights), out=out, image_size=32, num_classes=10, progress=False,
                              fp16=True).fp16
            ev = api.evaluate(fp16.directory, d.test, device="local")
            row.update({"ok": True, "lite_arm_fp16_top1": ev.top1, "engine": ev.engine, "images": ev.images,
                        "agreement_vs_fp32": ev.agreement,
                        "delta_points": round((ev.top1 - row["lite_arm_fp32_top1"]) * 100, 2)})
        except MliteError as e:
            row.update({"ok": False, "refused": str(e)})
        result["digits"].append(row)
        print(f"digits {name:<24} FP32 {row['lite_arm_fp32_top1']:.1%}  "
              + (f"FP16 {row['lite_arm_fp16_top1']:.1%} ({row['delta_points']:+.2f} pt)" if row["ok"]
                 else f"FP16 refused: {row['refused'][:80]}") + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def summarize(result: dict) -> dict:
    ok = [r for r in result["zoo"] if r.get("ok")]
    by_size: dict[str, list[str]] = {}
    for r in result["zoo"]:
        for p in r.get("probe", []):
            if p["non_finite"] and p["input"] == "fixed":
                by_size.setdefault(str(p["size"]), []).append(r["model"])
    return {"models": len(result["zoo"]), "fp16_published": len(ok),
            "parity_within_tolerance": sum(r["check"]["ok"] for r in ok),
            "latency_only_underflow": {r["model"]: round(r["check"]["scale"], 8) for r in ok if not r["check"]["ok"]},
            "refused": {r["model"]: r.get("error", "")[:160] for r in result["zoo"] if not r.get("ok")},
            "max_relative_within": max((r["check"]["relative"] for r in ok if r["check"]["ok"]), default=None),
            "min_top1_agreement": min((r["check"]["top1_agreement"] for r in ok), default=None),
            "all_ran_fp16": all(r["check"]["ran"] == "fp16" for r in ok),
            "size_ratio_fp16_to_fp32": [min(r["fp16_bytes"] / r["fp32_bytes"] for r in ok),
                                        max(r["fp16_bytes"] / r["fp32_bytes"] for r in ok)] if ok else None,
            "nan_by_input_size": by_size,
            "digits": [{k: r.get(k) for k in ("model", "lite_arm_fp32_top1", "lite_arm_fp16_top1", "delta_points", "ok")}
                       for r in result.get("digits", [])]}


def _write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", help="comma-separated subset (default: the 36 distinct zoo models)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--digits-epochs", type=int, default=4)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "fp16.json"))
    ap.add_argument("--resume", action="store_true", help="keep the models an earlier sweep into --out measured")
    args = ap.parse_args(argv)
    from toolkit import runners, zoo
    found = runners.host_arm_runner(fp16=True)
    if found is None:
        raise SystemExit("benchmarks.fp16: no usable FP16 ARM runner: run 'make arm-runner arm-qemu' first")
    names = args.models.split(",") if args.models else [n for n, s in zoo.registry().items() if not s.int8]
    out = Path(args.out)
    result = {"weights": "random weights with BatchNorm statistics calibrated on 16 standard-normal images "
                         "(trained-like activation scales; plain random weights underflow FP16)",
              "runner_fp16": str(found[0]), "lite_version": found[1].lite_version, "emulated": found[1].emulated,
              "note": "emulated CPU (qemu-user, FP16 arithmetic in software): outputs are ARM's FP16 kernels', "
                      "times are not a phone latency" if found[1].emulated else "native ARM host",
              "sizes": list(SIZES), "warmup": args.warmup, "repeats": args.repeats, "zoo": []}
    if args.resume and out.exists():
        old = json.loads(out.read_text())
        result["zoo"] = [r for r in old.get("zoo", []) if r["model"] in names and r.get("ok")]
    with tempfile.TemporaryDirectory(prefix="mlite-bench-fp16-") as work:
        zoo_sweep(names, Path(work), out, result, args.warmup, args.repeats)
        digits_table(Path(work), result, args.digits_epochs)
    result["summary"] = summarize(result)
    _write(out, result)
    print(json.dumps(result["summary"], indent=1), flush=True)
    return 0 if result["summary"]["all_ran_fp16"] else 1


if __name__ == "__main__":
    sys.exit(main())
