"""Graph simplification before Paddle Lite's opt: fewer ops and attributes in the ``.nb``.

Paddle Lite's naive-buffer format stores every op attribute as a fixed-layout struct (~130 bytes
whatever its value), so op and attribute counts, not just weights, set a small model's size.
Dygraph-to-static writes shape arithmetic that Lite keeps as ops (e.g. ShuffleNetV2's channel
shuffle: ``shape`` + ``slice`` + 7 ``fill_constant`` per shuffle feeding two ``reshape2``).

Each pass is a function in ``PASSES`` (name -> pass) taking a block and returning how many things
it changed; every pass keeps the program's results identical for every input the original accepts.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

# Attributes that no Paddle Lite 2.13 source file reads (checked with ``git grep`` over lite/);
# the first four Lite itself drops when it loads a program.
UNREAD_ATTRS = frozenset({"op_callstack", "op_namescope", "op_role", "op_role_var", "op_device",
                          "with_quant_attr", "mkldnn_data_type", "use_cudnn", "only_observer"})
# (op type, attribute) -> values with which Lite behaves as without it: conv ops never read
# data_format, and read padding_algorithm only to act on "SAME"/"VALID".
REDUNDANT_ATTRS = {
    (conv, attr): values
    for conv in ("conv2d", "depthwise_conv2d")
    for attr, values in (("data_format", {"NCHW", "AnyLayout"}), ("padding_algorithm", {"EXPLICIT"}))
}
# Ops without side effects: removable when nothing reads their outputs.
PURE_OPS = frozenset({"fill_constant", "shape", "slice", "cast", "scale", "stack", "concat",
                      "unsqueeze2", "squeeze2", "assign"})


def _attr(op, name: str):
    return next((a for a in op.attrs if a.name == name), None)


def _producers(block) -> dict:
    return {arg: op for op in block.ops for o in op.outputs for arg in o.arguments}


def _scalar_constant(op) -> int | None:
    """The integer value of a one-element ``fill_constant`` without tensor inputs, else None."""
    if op is None or op.type != "fill_constant" or any(i.arguments for i in op.inputs):
        return None
    shape = _attr(op, "shape")
    if shape is None or list(shape.longs or shape.ints) not in ([1], []):
        return None
    text = _attr(op, "str_value")
    try:
        value = float(text.s) if text is not None and text.s else _attr(op, "value").f
    except (AttributeError, ValueError):
        return None
    return int(value) if value == int(value) else None


def fold_reshape_shapes(block) -> int:
    """reshape2 whose ShapeTensor list is constants plus at most one computed entry -> ``shape`` attr.

    The computed entry becomes -1: reshape infers it from the element count, which is the value
    the original computed whenever the original reshape succeeds. Constants 0 and -1 (special in
    reshape) are left alone.
    """
    producers = _producers(block)
    folded = 0
    for op in block.ops:
        if op.type != "reshape2" or any(i.parameter == "Shape" and i.arguments for i in op.inputs):
            continue
        tensors = next((i for i in op.inputs if i.parameter == "ShapeTensor" and i.arguments), None)
        if tensors is None:
            continue
        values = [_scalar_constant(producers.get(a)) for a in tensors.arguments]
        if sum(v is None for v in values) > 1 or any(v is not None and v <= 0 for v in values):
            continue
        shape = _attr(op, "shape")
        if shape is None:
            shape = op.attrs.add()
            shape.name, shape.type = "shape", _ints_type()
        del shape.ints[:]
        shape.ints.extend(-1 if v is None else v for v in values)
        del tensors.arguments[:]
        folded += 1
    return folded


def _ints_type():
    from .compat import _pb
    return _pb().INTS


def prune_dead_ops(block) -> int:
    """Remove side-effect-free ops whose outputs nothing reads (repeats until none is left)."""
    removed = 0
    while True:
        read = {a for op in block.ops for i in op.inputs for a in i.arguments}
        persistable = {v.name for v in block.vars if v.persistable}
        keep = [op for op in block.ops
                if op.type not in PURE_OPS
                or any(a in read or a in persistable for o in op.outputs for a in o.arguments)]
        if len(keep) == len(block.ops):
            break
        removed += len(block.ops) - len(keep)
        del block.ops[:]
        block.ops.extend(keep)
    used = {a for op in block.ops for io in (*op.inputs, *op.outputs) for a in io.arguments}
    vars_kept = [v for v in block.vars if v.persistable or v.name in used]
    if len(vars_kept) != len(block.vars):
        del block.vars[:]
        block.vars.extend(vars_kept)
    return removed


def _redundant(op_type: str, attr) -> bool:
    if attr.name in UNREAD_ATTRS:
        return True
    values = REDUNDANT_ATTRS.get((op_type, attr.name))
    return values is not None and attr.s in values


def strip_unread_attrs(block) -> int:
    """Drop attributes Paddle Lite never reads or reads to no effect (each costs ~130 bytes in the .nb)."""
    stripped = 0
    for op in block.ops:
        keep = [a for a in op.attrs if not _redundant(op.type, a)]
        if len(keep) != len(op.attrs):
            stripped += len(op.attrs) - len(keep)
            del op.attrs[:]
            op.attrs.extend(keep)
    return stripped


PASSES: dict[str, Callable] = {
    "fold_reshape_shapes": fold_reshape_shapes,
    "prune_dead_ops": prune_dead_ops,
    "strip_unread_attrs": strip_unread_attrs,
}


def simplify_bytes(data: bytes) -> tuple[bytes, dict[str, int]]:
    """Parse, simplify and re-serialize a program; returns (bytes, change counts)."""
    from .compat import _pb
    prog = _pb().ProgramDesc()
    prog.ParseFromString(data)
    counts = simplify_program(prog)
    return prog.SerializeToString(), counts


def simplify_program(prog) -> dict[str, int]:
    """Run every pass on block 0 of a parsed ProgramDesc (in place); returns non-zero change counts."""
    counts: Counter = Counter()
    if len(prog.blocks) != 1:
        return {}  # control flow: sub-blocks may read block-0 variables, leave the program alone
    for name, run in PASSES.items():
        counts[name] += run(prog.blocks[0])
    return {k: v for k, v in counts.items() if v}
