"""`mlite eval`: top-1 / top-5 of an FP32 or INT8 artifact on a labelled image set, on this host."""
from __future__ import annotations

import time
from dataclasses import dataclass, asdict, field
from pathlib import Path

from toolkit.artifacts import read_verified

from . import data
from .runtime import runner_for


@dataclass
class EvalResult:
    model_dir: str
    model: str
    precision: str
    backend: str
    images: int
    skipped_unreadable: int
    top1: float
    top5: float
    seconds: float
    data: str
    data_sha256: str
    fp32_top1: float | None = None       # the INT8 model's FP32 source, same images
    fp32_top5: float | None = None
    top1_drop: float | None = None        # fp32_top1 - top1 (points, x100)
    agreement: float | None = None       # share of images where INT8 and FP32 top-1 agree
    device: dict | None = None           # --device: where the .nb ran (serial, ABI, SoC, emulated)
    engine: str | None = None            # the runtime that produced the logits
    host_backend: str | None = None      # --device: the same artifact on a host engine, same images
    host_top1: float | None = None
    host_top5: float | None = None
    host_agreement: float | None = None  # share of images where device and host top-1 agree
    non_finite_images: int = 0           # images whose logits hold NaN/inf (the runtime failed on them)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _topk(logits, labels, k: int) -> float:
    import numpy as np
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean([lab in row for row, lab in zip(top, labels)]))


def _logits(model_dir: Path, backend: str, images: data.ImageSet, batch_size: int):
    import numpy as np
    run = runner_for(model_dir, backend)
    return np.concatenate([run(x) for x, _y, _i in images.batches(batch_size)])


def evaluate(model_dir: Path, data_dir: Path, labels: Path | None = None, limit: int | None = None,
             backend: str = "paddle", batch_size: int = 32, record: bool = True, device=None,
             threads: int = 2, reuse: bool = False) -> EvalResult:
    """Evaluate; for an INT8 artifact also its FP32 source and the top-1 agreement between them.

    With ``device`` the ``.nb`` runs there (inputs preprocessed here, pushed as one tensor file, outputs
    pulled; a name for ``devices.select.open_device`` or an open Device) and ``backend`` names the host engine
    reported beside it. ``reuse``: return the result stored
    for the same images, engine and device instead of measuring again."""
    import numpy as np
    from toolkit.errors import MliteError
    model_dir = Path(model_dir)
    m = read_verified(model_dir)
    md = m.to_dict() if m else {}
    pp = data.Preprocess.from_dict(md["preprocess"]) if "preprocess" in md else data.Preprocess()
    images = data.open_folder(data_dir, pp, labels_file=labels, need_labels=True, what="--data folder",
                              classes=md.get("class_names"))
    if limit is not None:
        if limit < 1:
            raise MliteError(f"--limit must be at least 1 (got {limit})")
        if limit < len(images):
            images = images.subset(limit)
    data_sha = images.listing_sha256()
    if reuse and m is not None:
        stored = _stored(m, data_sha, backend, device)
        if stored is not None:
            return stored
    t0 = time.perf_counter()
    on_device = None
    fp16 = md.get("precision") == "fp16"
    if fp16 and device is None:
        raise MliteError(f"{str(model_dir)!r} is a baked FP16 .nb: it runs only on Paddle Lite's FP16 kernels; pass "
                         "--device local (this host's ARM FP16 runtime) or --device SERIAL (an armv8.2 phone)")
    src_dir = Path(md["source"]["directory"]) if md.get("precision") in ("int8", "fp16") and md.get("source") else None
    if fp16 and (src_dir is None or not src_dir.is_dir()):
        raise MliteError(f"{str(model_dir)!r}: its FP32 source {str(src_dir)!r} is gone, so FP16 cannot be compared "
                         "with FP32; re-export with --precision fp16")
    if src_dir is not None and src_dir.is_dir():
        read_verified(src_dir)            # its numbers stand beside this model's: the same check
    if device is not None:
        from .on_device import device_logits
        on_device = device_logits(model_dir, device, images, batch_size, threads)
        logits = on_device.logits
    else:
        logits = _logits(model_dir, backend, images, batch_size)
    n_classes = logits.shape[1]
    if max(images.labels) >= n_classes:
        raise MliteError(f"labels go up to {max(images.labels)} but the model has {n_classes} classes; "
                         "check the class folders / --labels file")
    labels_arr = np.asarray(images.labels)
    res = EvalResult(model_dir=str(model_dir), model=md.get("model", model_dir.name),
                     precision=md.get("precision", "fp32"), backend=on_device.backend if on_device else backend,
                     images=len(images), skipped_unreadable=len(images.skipped),
                     top1=_topk(logits, labels_arr, 1), top5=_topk(logits, labels_arr, 5),
                     seconds=0.0, data=str(Path(data_dir).resolve()), data_sha256=data_sha)
    if on_device is not None:
        res.device, res.engine = on_device.device, on_device.engine
        host = _logits(src_dir if fp16 else model_dir, backend, images, batch_size)
        res.host_backend = f"{backend} (fp32 source)" if fp16 else backend
        res.host_top1, res.host_top5 = _topk(host, labels_arr, 1), _topk(host, labels_arr, 5)
        res.host_agreement = float(np.mean(host.argmax(1) == logits.argmax(1)))
    if src_dir is not None and src_dir.is_dir():
        ref = _logits(src_dir, "paddle", images, batch_size)
        res.fp32_top1, res.fp32_top5 = _topk(ref, labels_arr, 1), _topk(ref, labels_arr, 5)
        res.top1_drop = round((res.fp32_top1 - res.top1) * 100, 3)
        res.agreement = float(np.mean(ref.argmax(1) == logits.argmax(1)))
    res.seconds = round(time.perf_counter() - t0, 3)
    res.non_finite_images = int((~np.isfinite(logits).all(axis=1)).sum())
    if res.non_finite_images:
        cause = (" Paddle Lite's FP16 kernels misbehave on this model (NaN on 1x1 feature maps, see the README's "
                 "FP16 section): ship its FP32 or INT8 file" if fp16 else "")
        res.warnings.append(f"{res.non_finite_images} of {len(images)} images gave NaN/inf on "
                            f"{res.engine or res.backend}: this top-1 is not the model's.{cause}")
    if (md.get("weights") or {}).get("kind") == "random":
        res.warnings.append("this model has random weights (latency/size only): its top-1 is chance or worse and "
                            "says nothing about the architecture; export with --weights pretrained or PATH")
    if images.skipped:
        res.warnings.append(f"{len(images.skipped)} unreadable image file(s) skipped (e.g. {images.skipped[0]})")
    if record and m is not None:
        try:
            _record(model_dir, m, res)
        except OSError as e:              # the numbers are measured: report them, say why they are not stored
            res.warnings.append(f"result not stored in {str(model_dir / 'manifest.json')!r}: "
                                f"{e.strerror or e} (the numbers above are complete)")
    return res


def _stored(m, data_sha: str, backend: str, device) -> EvalResult | None:
    """The manifest's result for these images: on ``device`` (its serial), else by the host ``backend``."""
    if device is not None and not isinstance(device, str):
        device = "local" if device.kind == "local" else device.serial
    serial = None if device is None else device.removeprefix("adb:").removeprefix("ssh:")
    for e in reversed(m.extra.get("eval", [])):
        on = (e.get("device") or {}).get("serial")
        if e.get("data_sha256") != data_sha or (on is None) != (serial is None):
            continue
        if (serial is not None and (on == serial or (serial == "local" and e.get("device", {}).get("kind") == "local"))) \
                or (serial is None and e.get("backend") == backend):
            try:
                return EvalResult(**e)
            except TypeError:          # written by another version: measure again
                return None
    return None


def _record(model_dir: Path, m, res: EvalResult) -> None:
    """Store the result in the manifest (one entry per data set and backend)."""
    where = lambda e: (e.get("device") or {}).get("serial")  # noqa: E731
    evals = [e for e in m.extra.get("eval", [])
             if not (e["data_sha256"] == res.data_sha256 and e["backend"] == res.backend and where(e) == where(res.to_dict()))]
    m.extra["eval"] = evals + [res.to_dict()]
    m.write(model_dir)
