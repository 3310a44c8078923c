"""Compat pass: make a Paddle 2.6 ProgramDesc loadable by Paddle Lite 2.13's opt.

Paddle 2.6 stopped writing some attributes/outputs that Lite 2.13 still reads; without them
opt aborts (relu6 ``threshold``, swish ``beta``), segfaults on x86 (flatten ``XShape``) or skips
a fusion (transpose2 ``XShape``).
Each fix is a small function in ``FIXES``, keyed by op type.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable


def _pb():
    from toolkit.paddle_env import import_paddle
    import_paddle()  # quiet logging settings must precede the first paddle import
    from paddle.base.proto import framework_pb2  # heavy: import on use
    return framework_pb2


def _has_attr(op, name: str) -> bool:
    return any(a.name == name for a in op.attrs)


def _add_float_attr(name: str, value: float) -> Callable:
    def fix(op, block) -> bool:
        if _has_attr(op, name):
            return False
        a = op.attrs.add()
        a.name, a.type, a.f = name, _pb().FLOAT, value
        return True
    fix.__doc__ = f"add missing float attr {name}={value}"
    return fix


def producers(block) -> dict:
    """Output tensor name -> the op of ``block`` that writes it."""
    return {a: op for op in block.ops for o in op.outputs for a in o.arguments}


def unquantized(producer: dict, name: str) -> str:
    """``name`` followed back through quantize_linear/dequantize_linear ops (``producer``: from
    ``producers``) to the tensor they quantize."""
    while name in producer and producer[name].type in ("quantize_linear", "dequantize_linear"):
        name = next(i.arguments[0] for i in producer[name].inputs if i.parameter == "X")
    return name


def _var(block, name: str):
    return next((v for v in block.vars if v.name == name), None)


def _add_xshape(op, block) -> bool:
    """flatten_contiguous_range / transpose2: add the XShape output (dims = [0] + input dims).

    Lite's transpose2 runs without it, but its shuffle_channel fusion (reshape2 -> transpose2 ->
    reshape2, ShuffleNet's channel shuffle) only matches when every op has its XShape.
    """
    if any(o.parameter == "XShape" for o in op.outputs):
        return False
    x_name = next(i.arguments[0] for i in op.inputs if i.parameter == "X")
    out_name = next(o.arguments[0] for o in op.outputs if o.parameter == "Out")
    x_var = _var(block, x_name)
    xshape_name = f"{out_name}.xshape"
    if _var(block, xshape_name) is None:
        v = block.vars.add()
        v.name = xshape_name
        v.persistable = False
        v.type.type = _pb().VarType.LOD_TENSOR
        tensor = v.type.lod_tensor.tensor
        tensor.data_type = _pb().VarType.FP32
        dims = list(x_var.type.lod_tensor.tensor.dims) if x_var is not None else [-1]
        tensor.dims.extend([0] + dims)
    out = op.outputs.add()
    out.parameter = "XShape"
    out.arguments.append(xshape_name)
    return True


FIXES: dict[str, Callable] = {
    "relu6": _add_float_attr("threshold", 6.0),
    "swish": _add_float_attr("beta", 1.0),
    "flatten_contiguous_range": _add_xshape,
    "transpose2": _add_xshape,
}


def fix_program_bytes(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Return the fixed serialized program and how many ops each fix changed."""
    prog = _pb().ProgramDesc()
    prog.ParseFromString(data)
    changed: Counter = Counter()
    for block in prog.blocks:
        for op in block.ops:
            fix = FIXES.get(op.type)
            if fix is not None and fix(op, block):
                changed[op.type] += 1
    return prog.SerializeToString(), dict(changed)


def op_types(path: Path) -> Counter:
    """Op type counts of a serialized program (for reports and tests)."""
    prog = _pb().ProgramDesc()
    prog.ParseFromString(Path(path).read_bytes())
    return Counter(op.type for b in prog.blocks for op in b.ops)
