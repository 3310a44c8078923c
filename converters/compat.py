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


QDQ_OPS = frozenset({"quantize_linear", "dequantize_linear"})


def _drop_callstacks(prog) -> int:
    dropped = 0
    for block in prog.blocks:
        for op in block.ops:
            keep = [a for a in op.attrs if a.name != "op_callstack"]
            if len(keep) != len(op.attrs):
                dropped += len(op.attrs) - len(keep)
                del op.attrs[:]
                op.attrs.extend(keep)
    return dropped


def _order_qdq(block) -> bool:
    """Put each quantize/dequantize op right before the first op that reads it. PaddleSlim inserts them in
    an order that changes from run to run (it walks sets of graph nodes); the other ops keep theirs.
    Every reader keeps the writer it had: PaddleSlim may write one name twice (an observer-only pair of
    the calibration and the inference pair, same scale), and which one an op reads is what the program
    computes in Paddle."""
    ops = list(block.ops)
    if not any(op.type in QDQ_OPS for op in ops):
        return False
    # for each op, the quantize/dequantize ops it reads from (the last writer of each input before it)
    last: dict[str, object] = {}
    reads: dict[int, list] = {}
    for op in ops:
        reads[id(op)] = [last[a] for a in sorted({a for i in op.inputs for a in i.arguments})
                         if a in last and last[a].type in QDQ_OPS]
        for o in op.outputs:
            for a in o.arguments:
                last[a] = op
    placed: set[int] = set()
    order: list = []

    def inputs_first(op) -> None:
        for p in reads[id(op)]:
            if id(p) not in placed:
                placed.add(id(p))
                inputs_first(p)
                order.append(p)

    for op in ops:
        if op.type not in QDQ_OPS:
            inputs_first(op)
            order.append(op)
    unread = [op for op in ops if op.type in QDQ_OPS and id(op) not in placed]
    for op in sorted(unread, key=lambda o: (sorted(a for x in o.outputs for a in x.arguments),
                                            sorted(a for x in o.inputs for a in x.arguments))):
        inputs_first(op)
        if id(op) not in placed:
            placed.add(id(op))
            order.append(op)
    if [id(o) for o in order] == [id(o) for o in ops]:
        return False
    data = [o.SerializeToString() for o in order]
    del block.ops[:]
    for d in data:
        block.ops.add().ParseFromString(d)
    return True


def canonical_program(model_file: Path) -> dict[str, int]:
    """Rewrite a saved program so that one model always gives the same bytes: drop every op's
    ``op_callstack`` (the Python stack of the process that wrote it: this host's paths, another stack in a
    worker process) and put quantize/dequantize ops in a fixed place. Returns what changed."""
    prog = _pb().ProgramDesc()
    prog.ParseFromString(Path(model_file).read_bytes())
    changes = {"callstacks": _drop_callstacks(prog), "qdq_reordered": int(any(_order_qdq(b) for b in prog.blocks))}
    if any(changes.values()):
        tmp = Path(model_file).with_name(Path(model_file).name + ".part")
        tmp.write_bytes(prog.SerializeToString())
        tmp.replace(model_file)
    return changes
