"""What a Paddle inference program costs, read from its ProgramDesc at batch 1: multiply-adds and FLOPs
(2 per multiply-add, PaddleClas's convention: MobileNetV3_small_x1_0 0.120 G here vs 0.123 G published),
parameters, and the peak memory of live activations (each tensor alive from the op that writes it to the
last op that reads it)."""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from pathlib import Path

from .compat import _pb

DTYPE_BYTES = {"FP32": 4, "FP16": 2, "BF16": 2, "FP64": 8, "INT8": 1, "UINT8": 1, "INT16": 2, "INT32": 4,
               "INT64": 8, "BOOL": 1}
SKIP_OPS = {"feed", "fetch"}


@dataclass
class GraphStats:
    macs: int                    # multiply-adds of conv / matmul / fc layers
    params: int                  # elements of the persistable tensors (weights)
    activation_peak_bytes: int   # largest sum of live activation tensors at any op
    activation_total_bytes: int  # every activation tensor (no reuse)

    @property
    def flops_g(self) -> float:
        return 2 * self.macs / 1e9

    def to_dict(self) -> dict:
        return asdict(self) | {"flops_g": round(self.flops_g, 4)}


def _shape(var) -> list[int] | None:
    t = var.type
    if not t.HasField("lod_tensor"):
        return None
    return [1 if d < 0 else d for d in t.lod_tensor.tensor.dims]


def _bytes(var) -> int:
    shape = _shape(var)
    if shape is None:
        return 0
    name = _pb().VarType.Type.Name(var.type.lod_tensor.tensor.data_type)
    return math.prod(shape) * DTYPE_BYTES.get(name, 4)


def _arg(op, slot: str) -> str | None:
    for v in list(op.inputs) + list(op.outputs):
        if v.parameter == slot and v.arguments:
            return v.arguments[0]
    return None


def _macs(op, shapes: dict[str, list[int]]) -> int:
    if op.type in ("conv2d", "depthwise_conv2d", "conv2d_transpose"):
        w, out = shapes.get(_arg(op, "Filter")), shapes.get(_arg(op, "Output"))
        if w and out:                    # filter [Cout, Cin/groups, kh, kw]
            return math.prod(out) * math.prod(w[1:])
    if op.type in ("matmul_v2", "matmul", "mul", "fc"):
        x, y = shapes.get(_arg(op, "X") or _arg(op, "Input")), shapes.get(_arg(op, "Y") or _arg(op, "W"))
        out = shapes.get(_arg(op, "Out"))
        if x and y and out:
            return math.prod(out) * (y[-2] if len(y) >= 2 else y[0])
    return 0


def stats(model_file: Path) -> GraphStats:
    """Graph statistics of a saved ``inference.pdmodel`` (block 0)."""
    prog = _pb().ProgramDesc.FromString(Path(model_file).read_bytes())
    block = prog.blocks[0]
    vars_ = {v.name: v for v in block.vars}
    shapes = {n: s for n, v in vars_.items() if (s := _shape(v)) is not None}
    params = sum(math.prod(shapes[n]) for n, v in vars_.items() if v.persistable and n in shapes
                 and n not in ("feed", "fetch"))
    ops = [op for op in block.ops if op.type not in SKIP_OPS]
    acts = {n for n, v in vars_.items() if not v.persistable and n in shapes}
    first, last = {}, {}
    for i, op in enumerate(ops):
        for slot in op.inputs:
            for a in slot.arguments:
                if a in acts:
                    first.setdefault(a, i)          # the model input is live from the start
                    last[a] = i
        for slot in op.outputs:
            for a in slot.arguments:
                if a in acts:
                    first.setdefault(a, i)
                    last[a] = max(last.get(a, i), i)
    size = {a: _bytes(vars_[a]) for a in first}
    peak = 0
    for i in range(len(ops)):
        peak = max(peak, sum(b for a, b in size.items() if first[a] <= i <= last[a]))
    return GraphStats(macs=sum(_macs(op, shapes) for op in ops), params=params, activation_peak_bytes=peak,
                      activation_total_bytes=sum(size.values()))
