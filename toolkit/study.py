"""`mlite study`: which mobile net is best on *my* data and *my* device.

For each model: fine-tune on the user's labelled folders (a new head on the pretrained backbone, or from
scratch when no pretrained weights are available: recorded), export, quantize if asked, measure top-1 on
the validation split (on the host, and on the device's own runtime when it is an ARM device), graph
FLOPs / parameters / activation memory, file size, latency per backend and thread count and the runner's
peak RSS, and the fine-tune wall time. Resumable model by model: every stage is cached by its inputs.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, asdict, field
from pathlib import Path

from . import zoo
from .errors import MliteError

# The lightweight-network study this command automates: ShuffleNetV2 0.5/1.0/1.5, MobileNetV2 0.5/1.0/1.4,
# GhostNet 0.5/1.0/1.3, MobileNetV3 small/large. PaddleClas has no MobileNetV2 x1.4: x1.5 stands in.
PRESETS = {"blog": ("ShuffleNetV2_x0_5", "ShuffleNetV2", "ShuffleNetV2_x1_5", "MobileNetV2_x0_5", "MobileNetV2",
                    "MobileNetV2_x1_5", "GhostNet_x0_5", "GhostNet_x1_0", "GhostNet_x1_3", "MobileNetV3_small_x1_0",
                    "MobileNetV3_large_x1_0")}
PRECISIONS = ("fp32", "fp16", "int8")     # fp16: a baked FP16 .nb, on ARM devices with FP16 arithmetic
BACKENDS = ("lite", "ncnn")          # ncnn: FP32 (from the ONNX by pnnx); boards run it with python3 + ncnn
CALIB_IMAGES = 200


class StudyError(MliteError):
    pass


@dataclass
class StudyConfig:
    data: Path
    models: list[str]
    device: str = "local"                    # local | adb:SERIAL | ssh:USER@HOST[:PORT]
    val: Path | None = None
    val_split: float = 0.2
    epochs: int = 5
    image_size: int = 224
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    backends: list[str] = field(default_factory=lambda: ["lite"])
    threads: list[int] = field(default_factory=lambda: [1, 2, 4])
    warmup: int = 10
    repeats: int = 30
    lr: float | None = None                  # None: auto_lr (0.05; 0.01 for small training sets)
    batch_size: int = 32
    seed: int = 0
    weights: str = "pretrained"              # pretrained (else from scratch, recorded) | random (from scratch)
    identity: Path | None = None
    ssh_config: Path | None = None
    out: Path = Path("mlite_study")
    progress: bool = True


@dataclass
class StudyRow:
    model: str
    precision: str
    init: str | None = None                  # pretrained | scratch
    init_note: str | None = None
    epochs: int | None = None
    train_s: float | None = None
    top1: float | None = None                # validation split, host engine
    top1_engine: str | None = None
    device_top1: float | None = None         # the same images on the device's runtime (ARM devices)
    device_engine: str | None = None
    flops_g: float | None = None
    params_m: float | None = None
    activation_peak_mb: float | None = None  # from the graph, batch 1
    peak_rss_mb: float | None = None         # the runner on the device (largest over thread counts)
    size_mb: float | None = None             # the benchmarked model file (Paddle Lite .nb; ONNX for ONNX Runtime)
    ncnn_size_mb: float | None = None        # .param + .bin
    latency_ms: dict[str, dict[int, float]] = field(default_factory=dict)    # backend -> threads -> avg
    directory: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency_ms"] = {b: {str(t): v for t, v in sorted(ts.items())} for b, ts in self.latency_ms.items()}
        return d


@dataclass
class StudyResult:
    rows: list[StudyRow]
    device: dict
    emulated: bool
    settings: dict
    split: dict
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"device": self.device, "emulated": self.emulated, "settings": self.settings, "split": self.split,
                "rows": [r.to_dict() for r in self.rows], "files": self.files}


def select(models: str | None, family: str | None, preset: str | None) -> list[str]:
    if sum(map(bool, (models, family, preset))) != 1:
        raise StudyError("choose the models with exactly one of --models A,B / --family NAME / --preset blog")
    if preset:
        if preset not in PRESETS:
            raise StudyError(f"unknown --preset {preset!r}: choose one of {', '.join(PRESETS)}")
        return list(PRESETS[preset])
    from .run import select_models
    return select_models(models, family, False)


def validate(cfg: StudyConfig) -> None:
    bad = [p for p in cfg.precisions if p not in PRECISIONS]
    if bad or not cfg.precisions:
        raise StudyError(f"--precision {','.join(cfg.precisions)}: choose from {', '.join(PRECISIONS)} "
                         "(a comma list, e.g. fp32,fp16,int8)")
    bad = [b for b in cfg.backends if b not in BACKENDS]
    if bad or not cfg.backends:
        raise StudyError(f"--backends {','.join(cfg.backends)}: available here: {', '.join(BACKENDS)}")
    if cfg.val is None and not 0 < cfg.val_split < 1:
        raise StudyError(f"--val-split {cfg.val_split:g} must be between 0 and 1 (e.g. 0.2), or pass --val DIR")
    if cfg.epochs < 1 or cfg.batch_size < 1 or (cfg.lr is not None and cfg.lr <= 0):
        raise StudyError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if not 16 <= cfg.image_size <= 1024:
        raise StudyError(f"--image-size {cfg.image_size} must be between 16 and 1024 pixels")
    if cfg.weights not in ("pretrained", "random"):
        raise StudyError(f"--weights {cfg.weights!r}: use pretrained (from scratch when unavailable) or random")
    if not cfg.threads or any(t < 1 or t > 64 for t in cfg.threads) or cfg.warmup < 0 or cfg.repeats < 1:
        raise StudyError("--threads between 1 and 64, --warmup >= 0 and --repeats >= 1")
    _device_kind(cfg.device)


def _device_kind(spec: str) -> str:
    if spec == "local":
        return "local"
    if spec.startswith(("adb:", "ssh:")) and len(spec) > 4:
        return spec[:3]
    raise StudyError(f"--device {spec!r}: use local (this host), adb:SERIAL (a phone) or ssh:USER@HOST[:PORT] (a board)")


def _open_device(cfg: StudyConfig):
    from .devices.select import open_device
    _device_kind(cfg.device)
    return open_device(cfg.device, cfg.identity, cfg.ssh_config)


# ---- data ---------------------------------------------------------------------------------------
def split_data(cfg: StudyConfig) -> tuple[Path, Path, list[str], dict]:
    """(train dir, val dir, class names in label order, record). Labels follow ``quant.data.class_map``
    (``dense``: the new head's classes 0..K-1 in numeric-then-name order); the fine-tuned model records the
    names, so every later command maps folders by them. With --val-split: a stratified split of --data,
    written as folders of symbolic links under OUT/split-<hash> (every class on both sides)."""
    import numpy as np
    from quant import data
    from .artifacts import staging_dir
    pp = data.Preprocess.for_input_size(cfg.image_size)
    full = data.open_folder(cfg.data, pp, need_labels=True, what="--data folder", dense=True)
    if full.classes is None:
        raise StudyError(f"--data {str(cfg.data)!r} needs one sub-folder per class (a labels list file is not "
                         "supported by study)")
    names = full.classes
    if len(names) < 2:
        raise StudyError(f"--data {str(cfg.data)!r} has one class folder ({names[0]!r}): a classifier needs at "
                         "least two classes (one sub-folder per class)")
    if cfg.val is not None:
        val = data.open_folder(cfg.val, pp, need_labels=True, what="--val folder", classes=names)
        if val.classes is None:
            raise StudyError(f"--val {str(cfg.val)!r} needs one sub-folder per class, named as in --data")
        return Path(cfg.data), Path(cfg.val), names, {
            "kind": "folders", "train": str(Path(cfg.data).resolve()), "val": str(Path(cfg.val).resolve()),
            "train_images": len(full), "val_images": len(val), "classes": len(names), "class_names": names,
            "skipped_unreadable": len(full.skipped) + len(val.skipped)}
    listing = sorted(str(f.relative_to(full.root)) for f in full.files)
    key = hashlib.sha256(json.dumps([listing, cfg.val_split, cfg.seed]).encode()).hexdigest()[:12]
    root = Path(cfg.out) / f"split-{key}"
    by_class: dict[int, list[Path]] = {}
    for f, lab in zip(full.files, full.labels):
        by_class.setdefault(lab, []).append(f)
    few = [names[c] for c, fs in by_class.items() if len(fs) < 2]
    if few:
        raise StudyError(f"class(es) {', '.join(few[:3])} have fewer than 2 images: a split needs at least one "
                         "for training and one for validation; add images or pass --val DIR")
    rs = np.random.RandomState(cfg.seed)
    if not (root / ".complete").is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        with staging_dir(root) as tmp:      # removed on any error or signal: no half-written split is left
            for c, fs in sorted(by_class.items()):
                order = rs.permutation(len(fs))
                n_val = min(len(fs) - 1, max(1, round(len(fs) * cfg.val_split)))
                for rank, i in enumerate(order):
                    side = "val" if rank < n_val else "train"
                    # the path inside the class folder: nested sub-folders keep files of the same name apart
                    dest = tmp / side / fs[i].relative_to(full.root)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(fs[i].resolve(), dest)
            (tmp / ".complete").write_text(key + "\n")
    counts = {side: sum(1 for p in (root / side).rglob("*") if p.is_symlink()) for side in ("train", "val")}
    return root / "train", root / "val", names, {
        "kind": "split", "fraction": cfg.val_split, "seed": cfg.seed, "directory": str(root.resolve()),
        "train_images": counts["train"], "val_images": counts["val"], "classes": len(names), "class_names": names,
        "skipped_unreadable": len(full.skipped)}


# ---- one model ----------------------------------------------------------------------------------
def _init_weights(spec, cfg: StudyConfig, progress):
    """(Weights or None, note): pretrained when available, else from scratch with the reason."""
    if cfg.weights == "random":
        return None, "from scratch (--weights random)"
    from . import weights as weights_mod
    try:
        w = weights_mod.resolve(spec, "pretrained", seed=cfg.seed, progress=progress)
    except weights_mod.WeightsError as e:
        return None, f"from scratch: pretrained weights unavailable ({e})"
    return w, f"pretrained ImageNet backbone ({w.url or w.path}), new {spec.name} head"


SMALL_SET = 500            # training images below which the default learning rate is lowered


def auto_lr(cfg: StudyConfig, train_images: int) -> float:
    """--lr, or by default 0.05 (momentum SGD, cosine decay), 0.01 for fewer than SMALL_SET training images:
    with one or two steps per epoch at 0.05, small mixed sets overflowed BatchNorm statistics to inf/NaN."""
    if cfg.lr is not None:
        return cfg.lr
    return 0.05 if train_images >= SMALL_SET else 0.01


def _finetune(spec, cfg: StudyConfig, train_dir: Path, val_dir: Path, classes: list[str], steps) -> "object":
    from quant import data, finetune
    w, note = _init_weights(spec, cfg, steps.bar)
    pp = data.Preprocess.for_input_size(cfg.image_size)
    train = data.open_folder(train_dir, pp, need_labels=True, what="training split", classes=classes)
    val = data.open_folder(val_dir, pp, need_labels=True, what="validation split", classes=classes)
    lr = auto_lr(cfg, len(train))
    key = hashlib.sha256(json.dumps({
        "recipe": finetune.RECIPE, "model": spec.name, "train": train.listing_sha256(),
        "classes": classes, "image_size": cfg.image_size, "epochs": cfg.epochs, "lr": lr,
        "batch_size": cfg.batch_size, "seed": cfg.seed, "init": w.identity if w else "scratch"}).encode()).hexdigest()
    dest = Path(cfg.out) / "finetune" / spec.name
    hit = finetune.cached(dest, key)
    if hit is not None:
        return hit

    def on_epoch(epoch: int, loss: float, acc: float | None) -> None:
        steps.describe(f"study {spec.name}: epoch {epoch + 1}/{cfg.epochs} loss {loss:.3f}"
                       + (f" val top-1 {acc:.1%}" if acc is not None else ""))
    from quant.train import TrainConfig
    fcfg = TrainConfig(epochs=cfg.epochs, lr=lr, batch_size=cfg.batch_size, seed=cfg.seed)
    return finetune.finetune(spec, train, val, classes, w, fcfg, dest, note, key, on_epoch=on_epoch)


def _bench_rows(model_dir: Path, serial: str, cfg: StudyConfig) -> tuple[dict, dict]:
    """backend -> threads -> newest avg ms for this device and settings; backend -> largest peak RSS."""
    latest: dict[tuple[str, int], tuple[str, float, float | None]] = {}
    for f in (model_dir / "bench").glob("*.json"):
        try:
            r = json.loads(f.read_text())
        except ValueError:
            continue
        if r.get("device", {}).get("serial") != serial or r.get("warmup") != cfg.warmup \
                or r.get("repeats") not in (cfg.repeats, cfg.repeats * 3) or r.get("threads") not in cfg.threads:
            continue
        k = ("lite" if r["backend"] in ("arm", "x86") else r["backend"], r["threads"])   # Paddle Lite's kernels
        peak = (r["perf"].get("memory_mb") or {}).get("peak")
        if k not in latest or r.get("timestamp", "") >= latest[k][0]:
            latest[k] = (r.get("timestamp", ""), r["perf"]["avg_ms"], peak)
    lat: dict[str, dict[int, float]] = {}
    for (b, t), (_s, ms, _p) in sorted(latest.items()):
        lat.setdefault(b, {})[t] = round(ms, 3)
    peaks: dict[str, float] = {}
    for (b, _t), (_s, _m, p) in latest.items():
        if p is not None:
            peaks[b] = max(p, peaks.get(b, 0.0))
    return lat, peaks


def _measure(row: StudyRow, model_dir: Path, cfg: StudyConfig, dev, info, val_dir: Path, arm: bool) -> None:
    from quant.evaluate import evaluate
    from .artifacts import read_manifest
    md = read_manifest(model_dir).to_dict()
    host_backend = "onnxruntime" if not arm and row.precision == "int8" else "paddle"
    if row.precision == "fp16":      # the host has no FP16 kernels of its own: its number is the FP32 source's
        ev = evaluate(Path(md["source"]["directory"]), val_dir, backend=host_backend, reuse=True)
        row.top1, row.top1_engine = ev.top1, "paddle (fp32 source)"
    else:
        ev = evaluate(model_dir, val_dir, backend=host_backend, reuse=True)
        row.top1, row.top1_engine = ev.top1, ("paddle (simulated int8)" if row.precision == "int8"
                                              and host_backend == "paddle" else host_backend)
    if arm:
        ev = evaluate(model_dir, val_dir, device=dev, reuse=True)
        row.device_top1, row.device_engine = ev.top1, ev.engine
    ncnn = "ncnn" in cfg.backends and row.precision == "fp32"      # ncnn: FP32 only
    if arm or cfg.device != "local":
        from .push import PushConfig, bench_device, find_model, find_ncnn
        for backend in ["lite"] * ("lite" in cfg.backends) + ["ncnn"] * ncnn:
            pc = PushConfig(model_dir=model_dir, threads=cfg.threads, warmup=cfg.warmup, repeats=cfg.repeats,
                            progress=False, resume=True, backend=backend)
            bench_device(dev, find_ncnn(model_dir) if backend == "ncnn" else find_model(model_dir), pc,
                         model_dir / "bench")
        files = {"paddle-lite-nb"}
    else:
        from .local_bench import bench_local
        backends = ["onnxruntime"] if row.precision == "int8" else ["lite"] * ("lite" in cfg.backends)
        bench_local(model_dir, backends + ["ncnn"] * ncnn, cfg.threads, cfg.warmup, cfg.repeats, progress=False,
                    resume=True)
        files = {"onnx-qdq"} if row.precision == "int8" else {"paddle-lite-nb"}
    row.latency_ms, peaks = _bench_rows(model_dir, info.serial, cfg)
    row.peak_rss_mb = peaks.get("lite", peaks.get("onnxruntime"))     # ncnn's runner is a Python process
    size = next((a["bytes"] for a in md["artifacts"] if a["format"] in files), None)
    row.size_mb = round(size / 1e6, 3) if size else None
    if ncnn:
        row.ncnn_size_mb = round(sum(a["bytes"] for a in md["artifacts"]
                                     if a["format"] in ("ncnn-param", "ncnn-bin")) / 1e6, 3)


def _check_fp16(dev, info, arm: bool) -> None:
    """FP16 rows need an ARM device with FP16 arithmetic: refuse before fine-tuning."""
    if not arm:
        raise StudyError(f"--precision fp16 on {info.serial} ({info.abi}): baked FP16 .nb files run on ARMv8.2 CPUs "
                         "with FP16 arithmetic only; use --device adb:SERIAL or ssh:USER@HOST of such a device")
    from .push import fp16_check
    fp16_check(dev, info, "--precision fp16")


def study_model(name: str, cfg: StudyConfig, dev, info, split: tuple, steps) -> list[StudyRow]:
    """Fine-tune, export, quantize and measure one model; one row per precision."""
    from converters.graph_stats import stats
    from .stages import Int8Options, export_model, quantize_model
    train_dir, val_dir, classes = split
    spec = zoo.get(name)
    from .runners import is_arm
    arm = info.abi is not None and is_arm(info.abi)          # a local ARM host reports its machine
    target = "arm" if arm else "x86"
    if "int8" in cfg.precisions and not arm and cfg.device != "local":
        raise StudyError(f"--precision int8 on {info.serial} ({info.abi}) needs an ARM device: INT8 .nb files are "
                         "ARM-only (on this host, --device local measures INT8 with ONNX Runtime)")
    ft = _finetune(spec, cfg, train_dir, val_dir, classes, steps)
    steps.describe(f"study {name}: export")
    out = Path(cfg.out) / "models"
    fp32 = export_model(name, weights=ft.weights, target=target, onnx=not arm, out=out, image_size=cfg.image_size,
                        num_classes=len(classes), progress=False, ncnn="ncnn" in cfg.backends).fp32
    stages = {"fp32": fp32}
    if "int8" in cfg.precisions:       # INT8 .nb files are ARM's; on an x86 host ONNX Runtime runs the QDQ file
        steps.describe(f"study {name}: INT8")
        stages["int8"] = quantize_model(fp32.directory, out=out, onnx=not arm, progress=False, options=Int8Options(
            calib=train_dir, calib_size=min(CALIB_IMAGES, ft.train_images)))
    if "fp16" in cfg.precisions:       # refused (NaN, too far from FP32) -> this model's rows fail with the reason
        from .fp16 import Fp16Config, export_fp16
        steps.describe(f"study {name}: FP16")
        stages["fp16"] = export_fp16(Fp16Config(model_dir=fp32.directory, out=out, progress=False))
    g = stats(fp32.directory / "inference.pdmodel")
    rows = []
    for precision in cfg.precisions:
        stage = stages[precision]
        row = StudyRow(model=name, precision=precision, init=ft.init, init_note=ft.init_note, epochs=ft.epochs,
                       train_s=ft.seconds, flops_g=round(g.flops_g, 4), params_m=round(g.params / 1e6, 3),
                       activation_peak_mb=round(g.activation_peak_bytes / 1e6, 3), directory=str(stage.directory))
        steps.describe(f"study {name}: {precision} accuracy and latency")
        _measure(row, Path(stage.directory), cfg, dev, info, val_dir, arm)
        rows.append(row)
    return rows


def study(cfg: StudyConfig) -> StudyResult:
    from .progress import Steps
    validate(cfg)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    dev = _open_device(cfg)
    info = dev.info()
    if "fp16" in cfg.precisions:
        from .runners import is_arm
        _check_fp16(dev, info, info.abi is not None and is_arm(info.abi))
    train_dir, val_dir, classes, split = split_data(cfg)
    rows: list[StudyRow] = []
    with Steps("study", len(cfg.models), show=cfg.progress) as steps:
        for name in cfg.models:
            with steps.step(name):
                try:
                    rows += study_model(name, cfg, dev, info, (train_dir, val_dir, classes), steps)
                except MliteError as e:
                    rows += [StudyRow(model=name, precision=p, error=str(e)) for p in cfg.precisions]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                if k not in ("progress", "identity", "ssh_config")}
    emulated = bool(info.emulated)
    return StudyResult(rows=rows, device=info.to_dict(), emulated=emulated, settings=settings, split=split)
