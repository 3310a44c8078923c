"""converters.compat's canonical op order: quantize/dequantize ops move next to their readers, and every op
still reads what it read before (PaddleSlim writes one name twice: an observer pair and the inference pair)."""
import random

from converters.compat import _order_qdq, _pb


def _op(block, kind, inputs, outputs):
    op = block.ops.add()
    op.type = kind
    for param, args in inputs.items():
        op.inputs.add(parameter=param, arguments=args)
    for param, args in outputs.items():
        op.outputs.add(parameter=param, arguments=args)


def _program(qdq_first: bool):
    """relu -> A; observer pair on A (scale s_obs) -> D read by conv; inference pair (s_inf) -> D read by add."""
    prog = _pb().ProgramDesc()
    b = prog.blocks.add()
    _op(b, "relu", {"X": ["x"]}, {"Out": ["A"]})
    obs = [("quantize_linear", {"X": ["A"], "Scale": ["s_obs"]}, {"Y": ["V"]}),
           ("dequantize_linear", {"X": ["V"], "Scale": ["s_obs"]}, {"Y": ["D"]})]
    if qdq_first:
        for o in obs:
            _op(b, *o)
    _op(b, "scale", {"X": ["x"]}, {"Out": ["U"]})                       # unrelated
    if not qdq_first:
        for o in obs:
            _op(b, *o)
    _op(b, "conv2d", {"Input": ["D"], "Filter": ["w"]}, {"Output": ["C"]})
    _op(b, "quantize_linear", {"X": ["A"], "Scale": ["s_inf"]}, {"Y": ["V"]})
    _op(b, "pool2d", {"X": ["U"]}, {"Out": ["P"]})                      # unrelated
    _op(b, "dequantize_linear", {"X": ["V"], "Scale": ["s_inf"]}, {"Y": ["D"]})
    _op(b, "elementwise_add", {"X": ["D"], "Y": ["C"]}, {"Out": ["E"]})
    return prog


def _reads(block):
    """Each op -> for each input, the op that last wrote it before (what the program computes)."""
    last, out = {}, {}
    for op in block.ops:
        key = (op.type, tuple((i.parameter, tuple(i.arguments)) for i in op.inputs))
        out[key] = {a: last.get(a) for i in op.inputs for a in i.arguments}
        for o in op.outputs:
            for a in o.arguments:
                last[a] = key
    return out


def test_every_op_reads_the_writer_it_read_before():
    for qdq_first in (True, False):
        prog = _program(qdq_first)
        before = _reads(prog.blocks[0])
        _order_qdq(prog.blocks[0])
        assert _reads(prog.blocks[0]) == before


def test_the_order_is_the_same_whatever_order_paddleslim_used():
    orders = set()
    for qdq_first in (True, False):
        prog = _program(qdq_first)
        _order_qdq(prog.blocks[0])
        orders.add(tuple(op.SerializeToString() for op in prog.blocks[0].ops))
    assert len(orders) == 1
    (order,) = orders
    kinds = [_pb().OpDesc.FromString(o).type for o in order]
    # each pair right before its first reader, the other ops in their order
    assert kinds == ["relu", "scale", "quantize_linear", "dequantize_linear", "conv2d", "pool2d",
                     "quantize_linear", "dequantize_linear", "elementwise_add"]


def test_unread_pairs_go_last_in_a_fixed_order():
    prog = _program(True)
    b = prog.blocks[0]
    ops = [op.SerializeToString() for op in b.ops]
    extra = [("quantize_linear", {"X": ["A"], "Scale": ["s2"]}, {"Y": ["V2"]}),
             ("dequantize_linear", {"X": ["V2"], "Scale": ["s2"]}, {"Y": ["D2"]})]
    results = set()
    for seed in range(3):
        p = _pb().ProgramDesc()
        blk = p.blocks.add()
        for o in ops:
            blk.ops.add().ParseFromString(o)
        at = random.Random(seed).randrange(1, len(ops))
        tail = [o.SerializeToString() for o in blk.ops[at:]]
        del blk.ops[at:]
        for e in extra:
            _op(blk, *e)
        for t in tail:
            blk.ops.add().ParseFromString(t)
        _order_qdq(blk)
        results.add(tuple(op.SerializeToString() for op in blk.ops))
        assert [op.type for op in blk.ops][-2:] == ["quantize_linear", "dequantize_linear"]
    assert len(results) == 1
