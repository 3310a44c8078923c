"""Graph simplification before opt, on hand-built ProgramDescs (what dygraph-to-static writes)."""
from converters import compat, simplify


def _var(block, name, dims=(-1, 8, 4, 4), persistable=False):
    pb = compat._pb()
    v = block.vars.add()
    v.name, v.persistable = name, persistable
    v.type.type = pb.VarType.LOD_TENSOR
    v.type.lod_tensor.tensor.data_type = pb.VarType.FP32
    v.type.lod_tensor.tensor.dims.extend(dims)
    return v


def _op(block, typ, inputs, outputs, **attrs):
    pb = compat._pb()
    op = block.ops.add()
    op.type = typ
    for param, args in inputs.items():
        i = op.inputs.add()
        i.parameter, i.arguments[:] = param, args
    for param, args in outputs.items():
        o = op.outputs.add()
        o.parameter, o.arguments[:] = param, args
    for name, value in attrs.items():
        a = op.attrs.add()
        a.name = name
        if isinstance(value, str):
            a.type, a.s = pb.STRING, value
        elif isinstance(value, list):
            a.type = pb.LONGS
            a.longs.extend(value)
        else:
            a.type, a.f = pb.FLOAT, value
    return op


def _shuffle_program(constants=(2, 4, 4, 4), dynamic_batch=True):
    """x -> reshape2(ShapeTensor=[shape(x)[0], constants...]) -> relu, like a channel shuffle."""
    prog = compat._pb().ProgramDesc()
    block = prog.blocks.add()
    block.idx, block.parent_idx = 0, -1
    _var(block, "w", (8,), persistable=True)
    _op(block, "feed", {"X": ["feed"]}, {"Out": ["x"]})
    shape_args = []
    if dynamic_batch:
        _op(block, "shape", {"Input": ["x"]}, {"Out": ["s"]}, op_device="")
        _op(block, "slice", {"Input": ["s"]}, {"Out": ["b"]}, op_device="")
        shape_args.append("b")
    for k, c in enumerate(constants):
        _op(block, "fill_constant", {"ShapeTensor": [], "ValueTensor": []}, {"Out": [f"c{k}"]},
            shape=[1], value=float(c), str_value="", op_device="")
        shape_args.append(f"c{k}")
    for name in ["x", "s", "b", "y", "y.xshape", "z", *[f"c{k}" for k in range(len(constants))]]:
        _var(block, name)
    _op(block, "reshape2", {"X": ["x"], "ShapeTensor": shape_args, "Shape": []},
        {"Out": ["y"], "XShape": ["y.xshape"]}, op_device="", op_callstack="trace")
    _op(block, "conv2d", {"Input": ["y"], "Filter": ["w"]}, {"Output": ["z"]},
        data_format="NCHW", padding_algorithm="EXPLICIT", op_device="")
    _op(block, "fetch", {"X": ["z"]}, {"Out": ["fetch"]})
    return prog


def _ops(prog):
    return [op.type for op in prog.blocks[0].ops]


def _attrs(op):
    return {a.name for a in op.attrs}


def test_channel_shuffle_shape_arithmetic_folds_away():
    prog = _shuffle_program()
    counts = simplify.simplify_program(prog)
    assert counts["fold_reshape_shapes"] == 1 and counts["prune_dead_ops"] == 6
    assert _ops(prog) == ["feed", "reshape2", "conv2d", "fetch"]
    reshape = prog.blocks[0].ops[1]
    assert list(next(a for a in reshape.attrs if a.name == "shape").ints) == [-1, 2, 4, 4, 4]
    assert not [a for i in reshape.inputs if i.parameter == "ShapeTensor" for a in i.arguments]
    names = {v.name for v in prog.blocks[0].vars}
    assert names == {"w", "x", "y", "y.xshape", "z"}   # unused vars gone, the parameter kept


def test_unread_and_default_attributes_are_stripped_but_meaningful_ones_kept():
    prog = _shuffle_program()
    simplify.simplify_program(prog)
    reshape, conv = prog.blocks[0].ops[1], prog.blocks[0].ops[2]
    assert _attrs(reshape) == {"shape"}
    assert _attrs(conv) == set()
    prog = _shuffle_program()
    conv = prog.blocks[0].ops[-2]
    next(a for a in conv.attrs if a.name == "padding_algorithm").s = "SAME"
    simplify.simplify_program(prog)
    assert _attrs(prog.blocks[0].ops[-2]) == {"padding_algorithm"}


def test_two_computed_entries_or_special_constants_are_not_folded():
    for constants in [(0, 4, 4, 4), (-1, 4, 4, 4)]:
        prog = _shuffle_program(constants)
        counts = simplify.simplify_program(prog)
        assert "fold_reshape_shapes" not in counts and "fill_constant" in _ops(prog)
    prog = _shuffle_program()
    block = prog.blocks[0]
    fill = next(op for op in block.ops if op.type == "fill_constant")
    fill.type = "cast"          # a second computed entry: its value is unknown until run time
    assert "fold_reshape_shapes" not in simplify.simplify_program(prog)
    assert "shape" in _ops(prog)


def test_constants_only_fold_without_minus_one_and_bytes_round_trip():
    prog = _shuffle_program(dynamic_batch=False)
    data, counts = simplify.simplify_bytes(prog.SerializeToString())
    out = compat._pb().ProgramDesc()
    out.ParseFromString(data)
    assert counts["fold_reshape_shapes"] == 1
    assert list(next(a for a in out.blocks[0].ops[1].attrs if a.name == "shape").ints) == [2, 4, 4, 4]
    again, counts2 = simplify.simplify_bytes(data)
    assert again == data and counts2 == {}


def test_programs_with_sub_blocks_are_left_alone():
    prog = _shuffle_program()
    sub = prog.blocks.add()
    sub.idx, sub.parent_idx = 1, 0
    before = prog.SerializeToString()
    assert simplify.simplify_program(prog) == {} and prog.SerializeToString() == before
