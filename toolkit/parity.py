"""Parity: compare a converted model's output with Paddle's on a fixed input."""
from __future__ import annotations

from dataclasses import dataclass, asdict
from pathlib import Path

from .errors import ParityError

TOLERANCE = 1e-4   # max |diff| relative to the reference output's scale
INPUT_SEED = 2024


def fixed_input(shape: tuple[int, ...]):
    import numpy as np
    return np.random.RandomState(INPUT_SEED).standard_normal(shape).astype("float32")


@dataclass
class ParityCheck:
    backend: str
    max_abs_diff: float
    scale: float          # max |reference|
    relative: float       # max_abs_diff / scale
    tolerance: float
    top1_match: bool

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def compare(backend: str, ref, out, tolerance: float = TOLERANCE) -> ParityCheck:
    import numpy as np
    ref = np.asarray(ref, dtype="float64")
    out = np.asarray(out, dtype="float64").reshape(ref.shape)
    diff = float(np.max(np.abs(ref - out))) if ref.size else 0.0
    scale = max(float(np.max(np.abs(ref))), 1e-12)
    top1 = bool(np.array_equal(ref.reshape(ref.shape[0], -1).argmax(1), out.reshape(out.shape[0], -1).argmax(1)))
    return ParityCheck(backend=backend, max_abs_diff=diff, scale=scale, relative=diff / scale, tolerance=tolerance,
                       top1_match=top1)


def require(checks: list[ParityCheck], model: str) -> None:
    bad = [c for c in checks if not c.ok]
    if bad:
        c = bad[0]
        raise ParityError(f"{model}: {c.backend} output differs from Paddle's by {c.max_abs_diff:.3g} "
                          f"({c.relative:.3g} of the output scale, tolerance {c.tolerance:g}); "
                          "the converted model is wrong, nothing was written; please report it")


def arm_engine() -> str:
    """What checks an ARM .nb on this host: its ARM kernels (runner version) or an x86 twin."""
    from . import runners
    found = runners.host_arm_runner()
    if found is None:
        return "x86-twin"
    return f"arm {found[1].lite_version} {'emulated' if found[1].emulated else 'native'}"


def paddle_reference(model_file: Path, params_file: Path, x):
    """Run the saved inference model with Paddle Inference (the reference output)."""
    from .paddle_env import import_paddle
    import_paddle()
    from paddle import inference
    cfg = inference.Config(str(model_file), str(params_file))
    cfg.disable_glog_info()
    cfg.disable_mkldnn()
    pred = inference.create_predictor(cfg)
    h = pred.get_input_handle(pred.get_input_names()[0])
    h.reshape(list(x.shape))
    h.copy_from_cpu(x)
    pred.run()
    return pred.get_output_handle(pred.get_output_names()[0]).copy_to_cpu()
