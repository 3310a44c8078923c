"""The compat pass on a hand-built ProgramDesc (the ops Paddle 2.6 writes and Lite 2.13 rejects)."""
from converters import compat


def _program():
    pb = compat._pb()
    prog = pb.ProgramDesc()
    block = prog.blocks.add()
    block.idx, block.parent_idx = 0, -1
    v = block.vars.add()
    v.name = "pool.out"
    v.type.type = pb.VarType.LOD_TENSOR
    v.type.lod_tensor.tensor.data_type = pb.VarType.FP32
    v.type.lod_tensor.tensor.dims.extend([-1, 16, 1, 1])
    for typ, x, out in [("relu6", "a", "b"), ("swish", "b", "c"), ("flatten_contiguous_range", "pool.out", "flat"),
                        ("transpose2", "pool.out", "t"), ("relu", "c", "d")]:
        op = block.ops.add()
        op.type = typ
        i = op.inputs.add()
        i.parameter, i.arguments[:] = "X", [x]
        o = op.outputs.add()
        o.parameter, o.arguments[:] = "Out", [out]
    return prog


def test_fixes_restore_what_lite_needs_and_are_idempotent():
    fixed, changed = compat.fix_program_bytes(_program().SerializeToString())
    assert changed == {"relu6": 1, "swish": 1, "flatten_contiguous_range": 1, "transpose2": 1}
    prog = compat._pb().ProgramDesc()
    prog.ParseFromString(fixed)
    ops = {op.type: op for op in prog.blocks[0].ops}
    assert [(a.name, a.f) for a in ops["relu6"].attrs] == [("threshold", 6.0)]
    assert [(a.name, a.f) for a in ops["swish"].attrs] == [("beta", 1.0)]
    assert [o.parameter for o in ops["flatten_contiguous_range"].outputs] == ["Out", "XShape"]
    xshape = next(v for v in prog.blocks[0].vars if v.name == "flat.xshape")
    assert list(xshape.type.lod_tensor.tensor.dims) == [0, -1, 16, 1, 1]
    assert [o.parameter for o in ops["transpose2"].outputs] == ["Out", "XShape"]   # lets shuffle_channel fuse
    assert list(ops["relu"].attrs) == []
    again, changed_again = compat.fix_program_bytes(fixed)
    assert changed_again == {}
    assert again == fixed
