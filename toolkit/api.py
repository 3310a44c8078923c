"""Library API: one function per user-facing command, each returning a dataclass or plain data."""
from __future__ import annotations

from pathlib import Path

from .export import ExportConfig, ExportResult


def models() -> list[dict]:
    """The zoo with PaddleClas's published numbers."""
    from . import zoo
    return [spec.to_dict() for spec in zoo.registry().values()]


def export(model: str, weights: str = "pretrained", target: str = "arm", onnx: bool = False,
           out: Path | str = "mlite_out", seed: int = 0, progress: bool = True) -> ExportResult:
    """Export a zoo model to a Paddle inference model, a Paddle Lite ``.nb`` and optionally ONNX."""
    from .export import export as run
    return run(ExportConfig(model=model, weights=weights, target=target, onnx=onnx, out=Path(out),
                            seed=seed, progress=progress))
