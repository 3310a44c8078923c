"""Does a dygraph model compute inf/NaN inside, where its output cannot show it?

A diverged fine-tune leaves BatchNorm statistics or weights that overflow in eval mode. Paddle's ReLU maps NaN
to 0, so the output can look finite while ONNX Runtime (which keeps NaN) disagrees, and the export's parity
check would blame the converter. This looks at every layer's output on real inputs instead."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NonFinite:
    layer: str            # the first layer (in execution order) whose output holds inf/NaN, or a tensor's name
    kind: str             # "NaN" | "inf"
    values: int           # how many of its values
    size: int
    tensor: bool = False  # a parameter or buffer (e.g. a BatchNorm statistic) holds them, not a layer's output

    def describe(self) -> str:
        what = f"parameter {self.layer!r} holds" if self.tensor else f"layer {self.layer!r} outputs"
        return f"{what} {self.kind} ({self.values} of {self.size} values)"


def _check(name: str, a, tensor: bool = False) -> NonFinite | None:
    """``a`` (a numpy array) as a NonFinite when it holds inf/NaN, else None."""
    import numpy as np
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return NonFinite(layer=name, kind="NaN" if np.isnan(a).any() else "inf", values=int(bad.sum()),
                     size=int(a.size), tensor=tensor)


def first_non_finite(model, x) -> NonFinite | None:
    """Run ``x`` (NCHW float32) through ``model`` in eval mode with a hook on every leaf layer; the first layer
    whose output is not finite, else None (also checks the parameters and buffers: a NaN statistic)."""
    import numpy as np
    import paddle
    model.eval()
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        a = t.numpy()
        bad = _check(name, a, tensor=True) if a.dtype.kind == "f" else None
        if bad is not None:
            return bad
    found: list[NonFinite] = []
    hooks = []

    def hook(name):
        def check(_layer, _inp, out):
            if found or not isinstance(out, paddle.Tensor):
                return
            bad = _check(name, out.numpy())
            if bad is not None:
                found.append(bad)
        return check

    for name, layer in model.named_sublayers():
        if not layer.sublayers():                     # leaves: conv, bn, activation, pool, linear
            hooks.append(layer.register_forward_post_hook(hook(name)))
    try:
        with paddle.no_grad():
            out = model(paddle.to_tensor(np.ascontiguousarray(x, dtype="float32")))
    finally:
        for h in hooks:
            h.remove()
    if found:
        return found[0]
    return _check("output", out.numpy()) if isinstance(out, paddle.Tensor) else None
