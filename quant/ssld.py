"""SSLD: semi-supervised label distillation (PaddleClas's recipe) from a teacher into a mobile student.

The teacher's softmax over labelled and unlabelled images is the target; the student minimizes the
JS (or KL) divergence to it at a temperature, optionally plus cross-entropy on the labels it has.
Unlabelled images the teacher is unsure about can be dropped (``min_confidence``). Runs on a GPU
when Paddle sees one, else CPU; data-parallel under ``python -m paddle.distributed.launch``
(one process per device, gradients averaged by ``paddle.DataParallel``). Checkpoints after every
epoch; a rerun with the same settings resumes.
"""
from __future__ import annotations

import json
import math
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import __version__, zoo
from toolkit.artifacts import (Artifact, Manifest, StageResult, check_replace, ensure_writable_dir, is_complete,
                               settings_key, staging_dir, writing)
from toolkit.errors import MliteError

from . import data
from .train import accuracy, cosine_momentum, predict, sgd_step

LOSSES = ("js", "kl")
STAGE = "distill"
DISTILL_DIR = "distill"      # OUT/distill/STUDENT_ssld/


class DistillError(MliteError):
    """Distillation cannot run or did not converge."""


@dataclass
class DistillConfig:
    student: str
    teacher: str                          # zoo name or an mlite export directory
    data: Path
    unlabeled: Path | None = None
    val: Path | None = None
    student_weights: str = "pretrained"
    teacher_weights: str = "pretrained"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    image_size: int = 224
    temperature: float = 2.0
    loss: str = "js"
    label_weight: float = 0.0             # > 0 adds cross-entropy on labelled images
    min_confidence: float = 0.0           # drop unlabelled images the teacher is less sure about
    seed: int = 0
    out: Path = Path("mlite_out")
    progress: bool = True


@dataclass
class DistillResult(StageResult):
    weights: Path = field(kw_only=True)
    log: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return super().to_dict() | {"weights": str(self.weights)}


# ---- inputs -------------------------------------------------------------------------------------

def _open(path: Path, pp: data.Preprocess, what: str, classes=None) -> data.ImageSet:
    try:
        return data.open_folder(path, pp, need_labels=True, what=what, classes=classes)
    except data.LabelsMissing:
        return data.open_folder(path, pp, what=what)


RANDOM_TEACHER = "a teacher with random weights teaches nothing"


def _dir_teacher_weights(tdir: Path, md: dict) -> dict:
    """Provenance of a teacher directory: its mlite manifest's weights record, else kind "unknown" with the
    sha256 of its inference params (``model_sha256``: of its program). Refuses random weights."""
    w = md.get("weights")
    if isinstance(w, dict) and w.get("kind"):
        if w["kind"] == "random":
            raise DistillError(f"{RANDOM_TEACHER}: {str(tdir)!r} was exported with --weights random; "
                               "export the teacher with --weights pretrained or --weights PATH")
        return dict(w)
    from toolkit.artifacts import sha256_file
    from .runtime import find_paddle_model
    model_file, params_file = find_paddle_model(tdir)
    return {"kind": "unknown", "label": "unknown weights (no mlite manifest)", "path": str(params_file.resolve()),
            "sha256": sha256_file(params_file), "model_sha256": sha256_file(model_file)}


@dataclass
class _Teacher:
    """The teacher, resolved once: a zoo model with its weights, or an export directory with its manifest."""

    weights: object                       # zoo: toolkit.weights.Weights; directory: its provenance dict
    directory: Path | None = None
    manifest: dict = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """What ``settings["teacher_weights"]`` records: the teacher's own weights (``sha256:...``), never the
        --teacher-weights default."""
        return f"sha256:{self.weights['sha256']}" if self.directory is not None else self.weights.identity


def _teacher_class_names(cfg: DistillConfig) -> list[str] | None:
    """The class names a teacher directory records (a model mlite trained), else None."""
    tdir = Path(cfg.teacher)
    if not tdir.is_dir():
        return None
    from toolkit.artifacts import read_verified
    m = read_verified(tdir)
    return (m.to_dict() if m else {}).get("class_names")


def _resolve_teacher(cfg: DistillConfig) -> _Teacher:
    """The zoo teacher's resolved ``--teacher-weights``, or the teacher directory's manifest and provenance.
    Refuses random weights either way."""
    tdir = Path(cfg.teacher)
    if tdir.is_dir():
        from toolkit.artifacts import read_verified
        m = read_verified(tdir)
        md = m.to_dict() if m else {}
        return _Teacher(weights=_dir_teacher_weights(tdir, md), directory=tdir, manifest=md)
    from toolkit import weights as weights_mod
    try:
        w = weights_mod.resolve(zoo.get(cfg.teacher), cfg.teacher_weights, cfg.seed)
    except MliteError as e:
        raise e.for_option("--weights", "--teacher-weights") from None
    if w.kind == "random":
        raise DistillError(f"{RANDOM_TEACHER}: pass --teacher-weights PATH or pretrained")
    return _Teacher(w)


def _teacher_logits(cfg: DistillConfig, teacher: _Teacher, images: list[data.ImageSet], pp: data.Preprocess):
    """Teacher logits for every image of every set, and a description of the teacher (with its weights)."""
    import numpy as np
    from toolkit.export import build_model
    tdir, md = teacher.directory, teacher.manifest
    if tdir is not None:
        from .runtime import runner_for
        shape = md.get("input_shape")
        if shape and shape[-1] != cfg.image_size:
            raise DistillError(f"teacher {str(tdir)!r} takes {shape[-1]}x{shape[-1]} images but --image-size is "
                               f"{cfg.image_size}; use the teacher's size")
        run = runner_for(tdir, "paddle")
        outs = [np.concatenate([run(x) for x, _y, _i in s.batches(64)]) for s in images]
        return outs, {"directory": str(tdir.resolve()), "model": md.get("model", tdir.name),
                      "key": md.get("key"), "weights": teacher.weights}
    spec = zoo.get(cfg.teacher)
    model, classes = build_model(spec, teacher.weights)
    return ([predict(model, s) for s in images],
            {"model": spec.name, "weights": teacher.weights.to_dict(), "classes": classes})


def _softmax(z, t: float):
    import numpy as np
    z = z / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ---- training -----------------------------------------------------------------------------------

def _divergence(paddle, student_logits, target_probs, t: float, kind: str):
    F = paddle.nn.functional
    log_s = F.log_softmax(student_logits / t, axis=1)
    if kind == "kl":
        return F.kl_div(log_s, target_probs, reduction="batchmean") * t * t
    p_s = paddle.exp(log_s)
    m = 0.5 * (p_s + target_probs)
    log_m = paddle.log(m.clip(min=1e-12))
    kl_sm = (p_s * (log_s - log_m)).sum(axis=1)
    kl_tm = (target_probs * (paddle.log(target_probs.clip(min=1e-12)) - log_m)).sum(axis=1)
    return 0.5 * (kl_sm + kl_tm).mean() * t * t


def _device(paddle) -> str:
    try:
        if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
            return "gpu"
    except Exception:  # CPU-only builds may lack the cuda namespace
        pass
    return "cpu"


def distill(cfg: DistillConfig) -> DistillResult:
    """Distill; writes OUT/distill/STUDENT_ssld/STUDENT_ssld.pdparams and a manifest (rank 0 only)."""
    import numpy as np
    from toolkit import weights as weights_mod
    from toolkit.export import build_model
    from toolkit.paddle_env import import_paddle, tool_versions
    from toolkit.progress import Steps

    if cfg.loss not in LOSSES:
        raise DistillError(f"unknown --loss {cfg.loss!r}: choose js or kl")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0 or cfg.temperature <= 0:
        raise DistillError("--epochs and --batch-size must be >= 1, --lr and --temperature > 0")
    if not 32 <= cfg.image_size <= 1024:
        raise DistillError(f"--image-size {cfg.image_size}: use 32..1024")
    student = zoo.get(cfg.student)
    if student.int8:
        raise DistillError(f"{student.name} is an INT8 entry: distill into its FP32 model, then export with --int8")
    pp = data.Preprocess.for_input_size(cfg.image_size)
    # the teacher's recorded class list (an mlite export of a model mlite trained), else the folder rule
    class_names = _teacher_class_names(cfg)
    labelled = _open(cfg.data, pp, "--data folder", class_names)
    unlabelled = data.open_folder(cfg.unlabeled, pp, what="--unlabeled folder") if cfg.unlabeled else None
    if labelled.labels is None and unlabelled is None:
        raise DistillError(f"--data {str(cfg.data)!r} has no labels and no --unlabeled folder was given: "
                           "give class sub-folders (or val_list.txt), or --unlabeled DIR")
    val = data.open_folder(cfg.val, pp, need_labels=True, what="--val folder", classes=class_names) if cfg.val else None

    paddle = import_paddle()
    device = _device(paddle)
    paddle.set_device(device)
    dist = paddle.distributed
    world, rank = dist.get_world_size(), dist.get_rank()
    if world > 1:
        dist.init_parallel_env()

    # OUT/distill/NAME: never OUT/NAME, where 'mlite export' of the zoo's NAME (e.g. X_ssld) writes
    out_root = ensure_writable_dir(Path(cfg.out) / DISTILL_DIR) if rank == 0 else Path(cfg.out) / DISTILL_DIR
    name = f"{student.name}_ssld" if not student.ssld else student.name
    final = out_root / name
    sets = [labelled] + ([unlabelled] if unlabelled else [])
    listing = "\n".join(f"{f}\t{f.stat().st_size}" for s in sets for f in s.files)
    try:
        s_weights = weights_mod.resolve(student, cfg.student_weights, cfg.seed)
    except MliteError as e:
        raise e.for_option("--weights", "--student-weights") from None
    teacher = _resolve_teacher(cfg)
    settings = {"student": student.name, "student_weights": s_weights.identity, "teacher": cfg.teacher,
                "teacher_weights": teacher.identity, "data": hashlib_text(listing),
                "labels": labelled.labels is not None, **{k: getattr(cfg, k) for k in (
                    "epochs", "batch_size", "lr", "image_size", "temperature", "loss", "label_weight",
                    "min_confidence", "seed")}, "world_size": world, "tools": tool_versions()}
    key = settings_key(settings)
    done = is_complete(final, key)
    if done is not None:
        return DistillResult(model=name, directory=final, cached=True, manifest=done.to_dict(),
                             weights=final / f"{name}.pdparams", log=done.extra.get("log", []))
    note = check_replace(final, STAGE, {"student": student.name}) if rank == 0 else None

    t_start = time.perf_counter()
    teacher_out, teacher_info = _teacher_logits(cfg, teacher, sets, pp)
    n_classes = teacher_out[0].shape[1]
    if labelled.labels is not None and max(labelled.labels) >= n_classes:
        raise DistillError(f"--data has {max(labelled.labels) + 1} classes but the teacher predicts {n_classes}; "
                           "teacher and student must share the class list")
    model, s_classes = build_model(student, s_weights, n_classes if s_weights.kind == "random" else None)
    if s_classes != n_classes:
        raise DistillError(f"student weights have {s_classes} classes, the teacher {n_classes}: teacher and student "
                           "class counts differ; pass student weights with the teacher's classes (or random)")

    # Targets: every labelled image, and the unlabelled ones the teacher is confident about.
    targets = [_softmax(o, cfg.temperature) for o in teacher_out]
    keep_unl = None
    if unlabelled is not None:
        conf = _softmax(teacher_out[1], 1.0).max(axis=1)
        keep_unl = np.flatnonzero(conf >= cfg.min_confidence)
    items = [(0, i) for i in range(len(labelled))] + ([(1, int(i)) for i in keep_unl] if keep_unl is not None else [])
    if not items:
        raise DistillError(f"no images left to distill on (--min-confidence {cfg.min_confidence} dropped them all)")

    ckpt_dir = out_root / f".{name}.checkpoint-{key[:12]}"
    start_epoch, log = 0, []
    if world > 1:
        model = paddle.DataParallel(model)
    steps_per_epoch = max(1, math.ceil(len(items) / (cfg.batch_size * world)))
    opt, sched = cosine_momentum(model, cfg.lr, cfg.epochs * steps_per_epoch, momentum=0.9, weight_decay=1e-4)
    state_file = ckpt_dir / "state.json"
    resumed_from = 0
    if state_file.is_file():
        st = json.loads(state_file.read_text())
        model.set_state_dict(paddle.load(str(ckpt_dir / "model.pdparams")))
        opt.set_state_dict(paddle.load(str(ckpt_dir / "opt.pdopt")))
        start_epoch, log = st["epoch"] + 1, st["log"]
        resumed_from = start_epoch

    with Steps(f"distill {student.name} <- {teacher_info['model']}", cfg.epochs, show=cfg.progress and rank == 0) as steps:
        for _ in range(start_epoch):
            steps.advance()
        for epoch in range(start_epoch, cfg.epochs):
            rs = np.random.RandomState(cfg.seed + epoch)
            order = rs.permutation(len(items))[rank::world]
            model.train()
            total, n = 0.0, 0
            for b in range(0, steps_per_epoch * cfg.batch_size, cfg.batch_size):
                idx = order[b:b + cfg.batch_size]
                if len(idx) == 0:
                    idx = order[:cfg.batch_size]          # keep ranks in step (equal batch counts)
                batch = [items[k] for k in idx]
                x = np.stack([sets[s].load(i) for s, i in batch])
                p_t = np.stack([targets[s][i] for s, i in batch]).astype("float32")
                logits = model(paddle.to_tensor(x))
                loss = _divergence(paddle, logits, paddle.to_tensor(p_t), cfg.temperature, cfg.loss)
                lab = [(j, labelled.labels[i]) for j, (s, i) in enumerate(batch) if s == 0 and labelled.labels]
                if cfg.label_weight > 0 and lab:
                    sel = paddle.to_tensor([j for j, _ in lab])
                    y = paddle.to_tensor(np.asarray([v for _, v in lab], "int64"))
                    loss = loss + cfg.label_weight * paddle.nn.functional.cross_entropy(
                        paddle.gather(logits, sel), y)
                sgd_step(loss, opt, sched)
                total += float(loss) * len(batch)
                n += len(batch)
            mean_loss = total / max(n, 1)
            if not math.isfinite(mean_loss) or (log and mean_loss > 10 * log[0]["loss"]):
                raise DistillError(f"distillation loss diverged at epoch {epoch + 1} ({mean_loss:.3g}, first epoch "
                                   f"{log[0]['loss'] if log else float('nan'):.3g}); lower --lr (now {cfg.lr:g})")
            inner = model._layers if world > 1 else model
            acc = accuracy(inner, val) if val is not None and rank == 0 else None
            log.append({"epoch": epoch + 1, "loss": round(mean_loss, 6), "val_top1": acc})
            steps.describe(f"distill epoch {epoch + 1}/{cfg.epochs} loss {mean_loss:.4f}"
                           + (f" val top-1 {acc:.2%}" if acc is not None else ""))
            steps.advance()
            if rank == 0:
                ckpt_dir.mkdir(parents=True, exist_ok=True)
                paddle.save(inner.state_dict(), str(ckpt_dir / "model.pdparams"))
                paddle.save(opt.state_dict(), str(ckpt_dir / "opt.pdopt"))
                tmp = ckpt_dir / "state.json.tmp"
                tmp.write_text(json.dumps({"epoch": epoch, "log": log}))
                tmp.replace(state_file)
    inner = model._layers if world > 1 else model
    if world > 1:
        dist.barrier()
    if rank != 0:
        return DistillResult(model=name, directory=final, cached=False, manifest={}, weights=final / f"{name}.pdparams",
                             log=log)
    with staging_dir(final) as tmp:
        with writing(final / f"{name}.pdparams"):
            paddle.save(inner.state_dict(), str(tmp / f"{name}.pdparams"))
        if class_names:
            data.write_class_names(tmp / f"{name}.pdparams", class_names)
        manifest = Manifest(
            stage=STAGE, model=name, key=key, settings=settings, tools=settings["tools"],
            artifacts=[Artifact.of(tmp, f"{name}.pdparams", "paddle-weights", "any")]
            + ([Artifact.of(tmp, f"{name}.classes.txt", "class-names", "any")] if class_names else []),
            extra={"mlite_version": __version__, "student": student.name, "teacher": teacher_info,
                   "num_classes": n_classes, "class_names": class_names, "image_size": cfg.image_size,
                   "device": device, "world_size": world,
                   "data": {"labelled": labelled.describe(),
                            "unlabelled": unlabelled.describe() if unlabelled else None,
                            "unlabelled_kept": int(len(keep_unl)) if keep_unl is not None else 0,
                            "val": val.describe() if val else None},
                   "log": log, "resumed_from_epoch": resumed_from, "seconds": round(time.perf_counter() - t_start, 1),
                   "next": f"mlite export --model {student.name} "
                           f"--weights {shlex.quote(str(final / (name + '.pdparams')))} --image-size {cfg.image_size}"})
        manifest.write(tmp)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return DistillResult(model=name, directory=final, cached=False, manifest=manifest.to_dict(),
                         warnings=[note] if note else [], weights=final / f"{name}.pdparams", log=log)


def hashlib_text(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()
