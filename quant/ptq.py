"""INT8 stage: PaddleSlim post-training quantization (or QAT) -> quantized program, ARM ``.nb``, QDQ ONNX."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import __version__
from toolkit.artifacts import (Artifact, Manifest, StageResult, check_replace, ensure_writable_dir, is_complete,
                               settings_key, staging_dir, temp_dir)
from toolkit.errors import MliteError, NotYetSupported
from toolkit.progress import Steps

from . import data
from .source import Source, load_source

STAGE = "quantize"
RECIPE_VERSION = 4      # 4: canonical op order keeps every reader's writer; 3: INT8 ONNX with Paddle's semantics
MODEL_FILE, PARAMS_FILE = "inference.pdmodel", "inference.pdiparams"
SYNTHETIC_DEFAULT = 32
# Ops whose weights/activations are quantized (matmul_v2: the classifier, often the largest layer).
OP_TYPES = ["conv2d", "depthwise_conv2d", "mul", "matmul", "matmul_v2"]

# CLI name -> (PaddleSlim algo, what it does)
ALGOS = {
    "avg": ("avg", "mean of per-batch abs-max"),
    "abs_max": ("abs_max", "global abs-max"),
    "hist": ("hist", "histogram percentile (0.9999)"),
    "KL": ("KL", "KL-divergence threshold (TensorRT style)"),
    "mse": ("mse", "threshold minimizing mean squared error"),
    "emd": ("emd", "threshold minimizing earth mover's distance"),
}


class CalibrationError(MliteError):
    """Calibration data missing or unusable."""


@dataclass
class QuantConfig:
    model_dir: Path
    out: Path | None = None            # root for NAME_int8/ (default: beside model_dir)
    calib: Path | None = None
    calib_size: int | None = None
    algo: str = "hist"
    batch_size: int = 8
    target: str = "arm"
    onnx: bool = False
    qat_train: Path | None = None      # QAT instead of PTQ when given
    qat_epochs: int = 1
    qat_lr: float = 0.001
    sensitivity: bool = False          # measure each layer's INT8 loss (writes sensitivity.json)
    max_drop: float | None = None      # keep the most sensitive layers FP32 until top-1 drop <= this (points)
    val: Path | None = None            # images for sensitivity (labelled for top-1; default: the calibration set)
    progress: bool = True


@dataclass
class QuantResult(StageResult):
    artifacts: list[Artifact] = field(default_factory=list)


def check_algo(algo: str) -> str:
    if algo not in ALGOS:
        raise MliteError(f"unknown --algo {algo!r}: choose one of {', '.join(ALGOS)}")
    return ALGOS[algo][0]


def check_calib(calib: Path | None) -> None:
    """An unusable --calib is said before any export runs, not after the FP32 one."""
    if calib is None:
        return
    if not data.list_images(Path(calib)):
        raise CalibrationError(f"calibration folder --calib {str(calib)!r} holds no images (.jpg, .jpeg, .png, "
                               ".bmp; sub-folders are searched); point it at a folder of images")


def check_target(target: str) -> None:
    from converters import lite
    t = lite.get_target(target)
    if t.name != "arm":
        raise NotYetSupported(f"INT8 --target {t.name} is refused: Paddle Lite's x86 INT8 kernels return wrong "
                              "values (NaN); INT8 .nb files are for --target arm, use --onnx for INT8 on a host")


def calibration(src: Source, cfg: QuantConfig) -> tuple[dict, dict, list[str]]:
    """(worker calib spec, manifest record, warnings)."""
    if cfg.calib_size is not None and cfg.calib_size < 1:
        raise CalibrationError(f"--calib-size must be at least 1 (got {cfg.calib_size})")
    if cfg.calib is None:
        if not src.random_weights:
            kind = "a model without an mlite manifest" if src.manifest is None else f"{src.weights_kind} weights"
            raise CalibrationError(
                f"INT8 calibration of {kind} needs real images: pass --calib DIR with ~100+ images like the "
                "ones the model will see (synthetic calibration is only allowed with --weights random)")
        count = cfg.calib_size or SYNTHETIC_DEFAULT
        spec = {"kind": "synthetic", "count": count, "shape": list(src.input_shape), "seed": 0}
        return spec, {"kind": "synthetic", "images": count,
                      "note": "random weights: standard-normal inputs (latency/size only)"}, []
    images = data.open_folder(cfg.calib, src.preprocess, what="calibration folder --calib")
    warnings = []
    if images.skipped:
        warnings.append(f"skipped {len(images.skipped)} unreadable file(s) in --calib, "
                        f"e.g. {images.skipped[0]!r}")
    if cfg.calib_size is not None:
        if cfg.calib_size > len(images):
            raise CalibrationError(f"--calib-size {cfg.calib_size} is larger than the {len(images)} readable images "
                                   f"in {str(cfg.calib)!r}; pass --calib-size {len(images)} or add images")
        if cfg.calib_size < len(images):
            images = images.subset(cfg.calib_size)
    listing = "\n".join(f"{f.relative_to(images.root)}\t{f.stat().st_size}\t{f.stat().st_mtime_ns}"
                        for f in images.files)
    spec = {"kind": "folder", "root": str(images.root), "files": [str(f) for f in images.files],
            "preprocess": src.preprocess.to_dict(), "count": len(images)}
    record = {"kind": "folder", "root": str(Path(cfg.calib).resolve()), "images": len(images),
              "skipped_unreadable": len(images.skipped),
              "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}
    return spec, record, warnings


def quantize(cfg: QuantConfig) -> QuantResult:
    """Quantize ``cfg.model_dir`` into ``NAME_int8/``; skipped when the same result is already there."""
    from toolkit import parity
    from toolkit.paddle_env import tool_versions
    algo = check_algo(cfg.algo)
    check_target(cfg.target)
    if cfg.batch_size < 1:
        raise MliteError(f"--batch-size must be at least 1 (got {cfg.batch_size})")
    src = load_source(cfg.model_dir)
    if cfg.qat_train is not None and src.manifest is None:
        raise MliteError("--qat needs a model exported by 'mlite export' (it retrains the architecture); "
                         f"{str(cfg.model_dir)!r} has no mlite manifest")
    mixed = _mixed_settings(cfg, src)
    calib_spec, calib_record, warnings = calibration(src, cfg)
    out_root = ensure_writable_dir(Path(cfg.out) if cfg.out else src.directory.parent)
    name = f"{src.name}_int8"
    final = out_root / name
    method = "qat" if cfg.qat_train is not None else "ptq"
    settings = {"recipe": RECIPE_VERSION, "source": src.identity(), "method": method, "algo": algo,
                "batch_size": cfg.batch_size, "calibration": calib_record, "target": cfg.target, "onnx": cfg.onnx,
                "op_types": OP_TYPES, "tools": tool_versions(), "arm_check": parity.arm_engine()}
    if method == "qat":
        qat_data = data.open_folder(cfg.qat_train, src.preprocess, need_labels=True, what="--train folder",
                                    classes=(src.manifest or {}).get("class_names"))
        settings["qat"] = {"train": qat_data.describe(), "epochs": cfg.qat_epochs, "lr": cfg.qat_lr}
    if mixed is not None:
        settings["mixed"] = mixed["settings"]
    key = settings_key(settings)
    done = is_complete(final, key)
    if done is None:
        note = check_replace(final, STAGE, {"source.directory": str(src.directory.resolve())})
        warnings += [note] if note else []
    if done is not None:
        return QuantResult(model=name, directory=final, cached=True, manifest=done.to_dict(), warnings=warnings,
                           artifacts=done.artifacts)
    n_steps = 3 + int(cfg.onnx) + (0 if mixed is None else 1 + int(cfg.max_drop is not None))
    with Steps(f"int8 {src.name}", n_steps, show=cfg.progress) as steps, staging_dir(final) as tmp:
        with steps.step(method):
            if method == "qat":
                from .qat import quant_aware_train
                info = quant_aware_train(src, qat_data, tmp, epochs=cfg.qat_epochs, lr=cfg.qat_lr,
                                         batch_size=cfg.batch_size)
            else:
                info = _run_ptq(src, tmp, algo, cfg.batch_size, calib_spec)
        if mixed is not None:
            info["mixed"] = _mixed_precision(src, cfg, tmp, steps, algo, calib_spec, mixed["images"])
        manifest = _finish(src, cfg, name, tmp, steps, settings, key, calib_record, info, method)
    return QuantResult(model=name, directory=final, cached=False, manifest=manifest.to_dict(), warnings=warnings,
                       artifacts=manifest.artifacts)


def _mixed_settings(cfg: QuantConfig, src: Source) -> dict | None:
    """Validated --sensitivity/--max-drop/--val: {'settings': for the key, 'images': ImageSet or None}."""
    if not cfg.sensitivity and cfg.max_drop is None:
        if cfg.val is not None:
            raise MliteError("--val is only used with --sensitivity or --max-drop")
        return None
    if cfg.qat_train is not None:
        raise MliteError("--sensitivity/--max-drop apply to post-training quantization; drop --qat")
    if cfg.max_drop is not None and not cfg.max_drop >= 0:
        raise MliteError(f"--max-drop must be a non-negative number of top-1 points (got {cfg.max_drop})")
    images = None
    if cfg.val is not None:
        try:                              # labelled: top-1 drops; else (--sensitivity only) output distances
            images = data.open_folder(cfg.val, src.preprocess, need_labels=True, what="--val folder",
                                      classes=(src.manifest or {}).get("class_names"))
        except data.LabelsMissing:
            if cfg.max_drop is not None:
                raise
            images = data.open_folder(cfg.val, src.preprocess, what="--val folder")
    elif cfg.max_drop is not None:
        raise CalibrationError("--max-drop needs --val DIR: labelled images (one sub-folder per class) on which "
                               "the top-1 drop is measured")
    return {"settings": {"sensitivity": True, "max_drop": cfg.max_drop,
                         "val": images.describe() if images is not None else "calibration images"},
            "images": images}


def _sensitivity_inputs(images, calib_spec: dict):
    """(NCHW float32 inputs, labels or None) for the sensitivity runs: --val, else the calibration set."""
    import numpy as np
    if images is None:
        from .ptq_worker import calibration_batches
        return np.concatenate(list(calibration_batches(calib_spec, 64))), None
    xs, ys = [], []
    for x, y, _ in images.batches(64):
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), (None if images.labels is None else np.concatenate(ys))


def _mixed_precision(src: Source, cfg: QuantConfig, tmp: Path, steps: Steps, algo: str, calib_spec: dict,
                     images) -> dict:
    """Per-layer sensitivity of the INT8 program in ``tmp`` (sensitivity.json); with --max-drop, PTQ again
    with the fewest most-sensitive layers in FP32 that keep the drop within budget."""
    from .sensitivity import Sensitivity, weight_names
    x, labels = _sensitivity_inputs(images, calib_spec)
    with temp_dir("sens") as work, steps.step("sensitivity"):
        fold = Path(work) / "fp32"
        fold.mkdir()
        _run_ptq(src, fold, "abs_max", cfg.batch_size, calib_spec, skip=weight_names(src.model_file))
        sens = Sensitivity(tmp, fold, x, labels)
        analysis = sens.analyse()
        record = {"table": "sensitivity.json", "images": analysis.images, "labelled": analysis.labelled,
                  "fp32_top1": analysis.fp32_top1, "int8_top1": analysis.int8_top1,
                  "int8_output_distance": analysis.int8_output_distance,
                  "most_sensitive": [r.weight for r in analysis.ranked()[:5]], "fp32_layers": []}
        if cfg.max_drop is not None:
            fp32_layers, estimate, tried = sens.fewest_fp32_layers(analysis, cfg.max_drop)
            record.update({"max_drop": cfg.max_drop, "fp32_layers": fp32_layers, "estimated_drop_points": estimate,
                           "tried": tried})
    (tmp / "sensitivity.json").write_text(json.dumps(analysis.to_dict(), indent=2) + "\n")
    if record["fp32_layers"]:
        with steps.step("ptq mixed"):
            record["ptq_seconds"] = _run_ptq(src, tmp, algo, cfg.batch_size, calib_spec,
                                             skip=record["fp32_layers"])["seconds"]
        from .runtime import PaddleStaticRunner
        from .sensitivity import batched, top1
        record["top1"] = top1(batched(PaddleStaticRunner(tmp / MODEL_FILE, tmp / PARAMS_FILE), x), labels)
        record["drop_points"] = round((analysis.fp32_top1 - record["top1"]) * 100, 4)
    return record


def _run_ptq(src: Source, tmp: Path, algo: str, batch_size: int, calib_spec: dict,
             skip: list[str] | tuple = ()) -> dict:
    from converters.proc import server
    job = {"model_dir": str(src.directory), "model_filename": src.model_file.name,
           "params_filename": src.params_file.name, "out_dir": str(tmp), "algo": algo,
           "batch_size": batch_size, "calib": calib_spec, "feed_name": _feed_name(src), "op_types": OP_TYPES,
           "skip_tensors": list(skip)}
    with temp_dir("ptq") as work:
        job_file = Path(work) / "job.json"
        job_file.write_text(json.dumps(job))
        # one serving worker per process: Paddle + PaddleSlim imported once for every model it quantizes
        return server("quant.ptq_worker", "PaddleSlim quant_post_static").call(job_file, timeout=3600,
                                                                                writes=tmp / MODEL_FILE)


def _feed_name(src: Source) -> str:
    from converters import compat
    prog = compat._pb().ProgramDesc()
    prog.ParseFromString(src.model_file.read_bytes())
    return next(op.outputs[0].arguments[0] for op in prog.blocks[0].ops if op.type == "feed")


def _finish(src, cfg, name, tmp: Path, steps: Steps, settings, key, calib_record, info, method) -> Manifest:
    from converters import lite
    from converters.compat import canonical_program
    from . import checks
    canonical_program(tmp / MODEL_FILE)
    with steps.step("opt arm"):
        opt = lite.optimize(tmp / MODEL_FILE, tmp / PARAMS_FILE, lite.TARGETS["arm"], tmp / f"{name}.nb")
    arts = [Artifact.of(tmp, MODEL_FILE, "paddle-program-int8", "any"),
            Artifact.of(tmp, PARAMS_FILE, "paddle-params", "any"),
            Artifact.of(tmp, f"{name}.nb", "paddle-lite-nb", "arm")]
    if "mixed" in info:
        arts.append(Artifact.of(tmp, "sensitivity.json", "sensitivity-table", "any"))
    onnx_info = None
    if cfg.onnx:
        from converters import onnx as onnx_conv
        with steps.step("onnx"):
            onnx_info = onnx_conv.to_onnx(tmp, MODEL_FILE, PARAMS_FILE, tmp / f"{name}.onnx", int8=True)
        arts.append(Artifact.of(tmp, f"{name}.onnx", "onnx-qdq", "any"))
    with steps.step("check"):
        report = checks.int8_checks(src, tmp, f"{name}.onnx" if cfg.onnx else None, f"{name}.nb")
    nb_bytes = arts[2].bytes
    manifest = Manifest(
        stage=STAGE, model=name, key=key, settings=settings, tools=settings["tools"], artifacts=arts,
        extra={"mlite_version": __version__, "precision": "int8", "method": method,
               "source": {"directory": str(src.directory.resolve()), "model": src.name,
                          "relative": _relative(src.directory, tmp.parent / name)},
               "weights": (src.manifest or {}).get("weights", {"kind": src.weights_kind,
                                                               "label": f"{src.weights_kind} weights"}),
               "params": src.params, "bytes_per_param": round(nb_bytes / max(src.params, 1), 4),
               "input_shape": list(src.input_shape), "preprocess": src.preprocess.to_dict(),
               "num_classes": (src.manifest or {}).get("num_classes"),
               "class_names": (src.manifest or {}).get("class_names"), "family": (src.manifest or {}).get("family"),
               "arch": (src.manifest or {}).get("arch"), "module": (src.manifest or {}).get("module"),
               "calibration": calib_record, "algo": settings["algo"], "quant_seconds": info.get("seconds"),
               "compat_fixes": opt.compat_fixes, "graph_simplified": opt.simplified, "onnx": onnx_info, "checks": report,
               "mixed": info.get("mixed"), "fp32_layers": (info.get("mixed") or {}).get("fp32_layers", []),
               "timings_s": dict(steps.timings) | {f"ptq/{k}": v for k, v in (info.get("phases_s") or {}).items()}})
    manifest.write(tmp)
    return manifest


def _relative(source_dir: Path, final: Path) -> str:
    import os
    return os.path.relpath(source_dir.resolve(), final.resolve().parent.resolve() / final.name)
