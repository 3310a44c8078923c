"""The export stages chained: FP32 export, then INT8 from it when asked (used by the API, run and study)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .export import ExportConfig, ExportResult


@dataclass
class Int8Options:
    calib: Path | None = None
    calib_size: int | None = None
    algo: str = "hist"
    batch_size: int = 8
    qat_train: Path | None = None
    qat_epochs: int = 1
    qat_lr: float = 0.001
    sensitivity: bool = False
    max_drop: float | None = None
    val: Path | None = None


@dataclass
class ExportOutcome:
    """An FP32 export and, with --int8, the INT8 artifact built from it."""

    fp32: ExportResult
    int8: object | None = None          # quant.ptq.QuantResult
    fp16: object | None = None          # toolkit.fp16.Fp16Result
    results: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"fp32": self.fp32.to_dict(), "int8": self.int8.to_dict() if self.int8 else None,
                "fp16": self.fp16.to_dict() if self.fp16 else None}


def export_model(model: str, weights: str = "pretrained", target: str = "arm", onnx: bool = False,
           out: Path | str = "mlite_out", seed: int = 0, image_size: int = 224, num_classes: int | None = None,
           int8: Int8Options | None = None, progress: bool = True, ncnn: bool = False,
           fp16: bool = False) -> ExportOutcome:
    """Export a zoo model to Paddle inference, Paddle Lite ``.nb`` and optionally ONNX; then INT8 and a baked
    FP16 ``.nb`` (checked on the FP16 kernels) if asked.

    An INT8 zoo name (``..._int8``) means: its FP32 weights, then INT8.
    """
    from . import zoo
    from .export import export as run
    spec = zoo.get(model)
    if spec.int8 and int8 is None:
        int8 = Int8Options()
    if int8 is not None:
        from quant.ptq import check_algo, check_calib, check_target
        check_algo(int8.algo)          # fail before the FP32 export, not after
        check_calib(int8.calib)
        check_target(target)
    if fp16 and target != "arm":
        from .errors import MliteError
        raise MliteError(f"--precision fp16 makes an ARM .nb (Paddle Lite's FP16 kernels are ARM's); drop --target {target}")
    base = spec.name.removesuffix("_int8") if spec.int8 else spec.name
    # INT8 .nb files are ARM; the FP32 step then builds its .nb for ARM too.
    fp32 = run(ExportConfig(model=base, weights=weights, target=target, onnx=onnx or ncnn, ncnn=ncnn, out=Path(out),
                            seed=seed, image_size=image_size, num_classes=num_classes, progress=progress))
    outcome = ExportOutcome(fp32)
    if int8 is not None:
        outcome.int8 = quantize_model(fp32.directory, out=Path(out), target=target, onnx=onnx, options=int8,
                                progress=progress)
    if fp16:
        from .fp16 import Fp16Config, export_fp16
        outcome.fp16 = export_fp16(Fp16Config(model_dir=fp32.directory, out=Path(out), progress=progress))
    return outcome


def quantize_model(model_dir: Path | str, out: Path | str | None = None, target: str = "arm", onnx: bool = False,
             options: Int8Options | None = None, progress: bool = True):
    """INT8 artifact ``NAME_int8/`` from an FP32 inference-model directory."""
    from quant.ptq import QuantConfig, quantize as run
    o = options or Int8Options()
    return run(QuantConfig(model_dir=Path(model_dir), out=Path(out) if out else None, calib=o.calib,
                           calib_size=o.calib_size, algo=o.algo, batch_size=o.batch_size, target=target, onnx=onnx,
                           qat_train=o.qat_train, qat_epochs=o.qat_epochs, qat_lr=o.qat_lr,
                           sensitivity=o.sensitivity, max_drop=o.max_drop, val=Path(o.val) if o.val else None,
                           progress=progress))
