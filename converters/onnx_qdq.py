"""QDQ ONNX that computes what Paddle's simulated INT8 computes, with int8 weights.

paddle2onnx 1.3.1 turns every ``quantize_linear``/``dequantize_linear`` pair of a PaddleSlim program into
ONNX QuantizeLinear/DequantizeLinear, including the ``only_observer`` pairs that PaddleSlim puts on op
*outputs* (they only record scales for Paddle Lite; Paddle passes the data through). In ONNX Runtime those
quantize for real, and after BN folding the pre-bias observer's scale lands after the bias that
paddle2onnx folded into the Conv, clipping the conv output: on the digits model this cost 1.1 points of
top-1 against Paddle. It also keeps FP32 weights with a QuantizeLinear in front of each (FP32 file size).

``paddle_semantics`` rewrites the graph in place:
- an activation Q/DQ pair stays only in front of the data input of the ops Paddle quantizes (Conv, MatMul,
  Gemm), and only where Paddle really quantizes (a scale of ``act_scales``; a layer kept FP32 by a skip
  list still reads an observer pair); every other reader of the dequantized tensor reads the unquantized one;
- a QuantizeLinear of a constant weight is folded into an int8 initializer (DequantizeLinear stays),
  so weights are stored in 1 byte each;
- a MatMul that paddle2onnx left unquantized (it drops the Q/DQ of ``matmul_v2``, running the classifier in
  FP32 with FP32 weights) gets what Paddle does: its input quantized with Paddle's recorded scale
  (``act_scales``) and its weight stored as int8 per output channel (abs-max, as PaddleSlim computed it).
"""
from __future__ import annotations

import re
from pathlib import Path

QUANTIZED_OPS = frozenset({"Conv", "MatMul", "Gemm"})


def _round_half_even(a):
    import numpy as np
    return np.rint(a)      # numpy's rint rounds half to even, as QuantizeLinear does


def _fold_weight(q, inits: dict):
    """int8 tensor QuantizeLinear(q) computes from its constant inputs."""
    import numpy as np
    from onnx import numpy_helper
    w = numpy_helper.to_array(inits[q.input[0]]).astype(np.float32)
    scale = numpy_helper.to_array(inits[q.input[1]]).astype(np.float32)
    zp = numpy_helper.to_array(inits[q.input[2]]) if len(q.input) > 2 and q.input[2] else np.zeros((), np.int8)
    axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and w.ndim > 1:
        shape = [1] * w.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    info = np.iinfo(zp.dtype)
    return np.clip(_round_half_even(w / scale) + zp.astype(np.int32), info.min, info.max).astype(zp.dtype)


def paddle_activation_scales(model_dir, model_filename: str) -> dict[str, float]:
    """Tensor name -> ONNX scale (threshold / 127) of every activation Paddle's program really quantizes."""
    from toolkit.paddle_env import import_paddle
    from .compat import _pb, producers, unquantized
    paddle = import_paddle()
    prog = _pb().ProgramDesc()
    prog.ParseFromString((model_dir / model_filename).read_bytes())
    producer = producers(prog.blocks[0])
    wanted = {}
    for op in prog.blocks[0].ops:
        attrs = {a.name: a for a in op.attrs}
        if op.type == "quantize_linear" and not (attrs.get("only_observer") and attrs["only_observer"].b):
            # back through observer pairs: the name paddle2onnx keeps
            x = unquantized(producer, next(i.arguments[0] for i in op.inputs if i.parameter == "X"))
            wanted[x] = (next(i.arguments[0] for i in op.inputs if i.parameter == "Scale"), attrs["bit_length"].i)
    if not wanted:
        return {}
    import numpy as np
    was_dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            exe = paddle.static.Executor(paddle.CPUPlace())
            paddle.static.load_inference_model(str(model_dir / Path(model_filename).stem), exe)
            return {x: float(np.array(scope.find_var(v).get_tensor()).ravel()[0]) / ((1 << (bits - 1)) - 1)
                    for x, (v, bits) in wanted.items() if scope.find_var(v) is not None}
    finally:
        if was_dynamic:
            paddle.disable_static()


def _quantize_matmuls(graph, inits: dict, act_scales: dict, counts: dict) -> None:
    import numpy as np
    from onnx import helper, numpy_helper
    producer = {o: n for n in graph.node for o in n.output}
    for mm in [n for n in graph.node if n.op_type == "MatMul"]:
        x, w = mm.input[0], mm.input[1]
        p = producer.get(x)
        if w not in inits or (p is not None and p.op_type == "DequantizeLinear") or x not in act_scales:
            continue
        wf = numpy_helper.to_array(inits[w]).astype(np.float32)
        if wf.ndim != 2:
            continue
        w_scale = np.abs(wf).max(axis=0) / 127.0
        w_scale[w_scale == 0] = 1.0
        w_int = np.clip(_round_half_even(wf / w_scale), -127, 127).astype(np.int8)
        tag = f"{mm.name or w}.mlite"
        new_inits = [numpy_helper.from_array(w_int, f"{tag}.w_int8"),
                     numpy_helper.from_array(w_scale.astype(np.float32), f"{tag}.w_scale"),
                     numpy_helper.from_array(np.zeros(w_scale.shape, np.int8), f"{tag}.w_zp"),
                     numpy_helper.from_array(np.asarray(act_scales[x], np.float32), f"{tag}.x_scale"),
                     numpy_helper.from_array(np.asarray(0, np.int8), f"{tag}.x_zp")]
        graph.initializer.extend(new_inits)
        for i in new_inits:
            inits[i.name] = i
        nodes = [helper.make_node("QuantizeLinear", [x, f"{tag}.x_scale", f"{tag}.x_zp"], [f"{tag}.xq"]),
                 helper.make_node("DequantizeLinear", [f"{tag}.xq", f"{tag}.x_scale", f"{tag}.x_zp"], [f"{tag}.xdq"]),
                 helper.make_node("DequantizeLinear", [f"{tag}.w_int8", f"{tag}.w_scale", f"{tag}.w_zp"],
                                  [f"{tag}.wdq"], axis=1)]
        at = list(graph.node).index(mm)
        for k, n in enumerate(nodes):
            graph.node.insert(at + k, n)
        mm.input[0], mm.input[1] = f"{tag}.xdq", f"{tag}.wdq"
        counts["matmuls_quantized"] += 1


def _scalar(init) -> float | None:
    from onnx import numpy_helper
    if init is None:
        return None
    a = numpy_helper.to_array(init)
    return float(a.ravel()[0]) if a.size == 1 else None


def _is_one_of(value: float | None, sorted_values: list[float], rel: float = 1e-5) -> bool:
    import bisect
    if value is None:
        return False
    i = bisect.bisect_left(sorted_values, value)
    return any(abs(v - value) <= rel * abs(v) for v in sorted_values[max(i - 1, 0):i + 1])


def paddle_semantics(model, act_scales: dict | None = None) -> dict:
    """Rewrite ``model`` (onnx.ModelProto) in place; returns counts of what changed."""
    from onnx import numpy_helper
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    counts = {"observer_qdq_bypassed": 0, "weights_int8": 0, "matmuls_quantized": 0}
    # What Paddle really quantizes, when known, recognised by scale: paddle2onnx renames fused tensors
    # (a conv output with its folded bias takes the conv's name), so names do not match; scales do.
    really = None if act_scales is None else sorted(act_scales.values())
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or q.input[0] in inits:
            continue
        quantized_in_paddle = really is None or _is_one_of(_scalar(inits.get(q.input[1])), really)
        for reader in graph.node:
            keep = (quantized_in_paddle and reader.op_type in QUANTIZED_OPS and bool(reader.input)
                    and reader.input[0] == dq.output[0])
            for k, name in enumerate(reader.input):
                if name == dq.output[0] and not (keep and k == 0):
                    reader.input[k] = q.input[0]
                    counts["observer_qdq_bypassed"] += 1
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] in inits]:
        if not all(i in inits for i in q.input[1:] if i):
            continue
        folded = numpy_helper.from_array(_fold_weight(q, inits), name=q.output[0])
        graph.initializer.append(folded)
        inits[folded.name] = folded
        graph.node.remove(q)
        counts["weights_int8"] += 1
    _quantize_matmuls(graph, inits, act_scales or {}, counts)
    _prune(graph)
    counts["names_shortened"] = _compact_names(graph)
    return counts


_GENERATED = re.compile(r"^(helper\.constant\.|QuantizeLinear\.|DequantizeLinear\.|fuse_conv_bn/)|\.mlite\.")


def _compact_names(graph) -> int:
    """Short names for the tensors the converters made up (Paddle's own tensor names stay, for debugging);
    node names, doc strings and value_info go. On a 0.4 M-parameter model names were 0.2 bytes/param."""
    names: dict[str, str] = {}
    fixed = {v.name for v in (*graph.input, *graph.output)}

    def short(name: str) -> str:
        if name in fixed or not _GENERATED.search(name):
            return name
        return names.setdefault(name, f"q{len(names):x}")
    for n in graph.node:
        n.name, n.doc_string = "", ""
        n.input[:] = [short(i) for i in n.input]
        n.output[:] = [short(o) for o in n.output]
    for i in graph.initializer:
        i.name = short(i.name)
    del graph.value_info[:]
    return len(names)


def _prune(graph) -> None:
    """Drop nodes and initializers nothing reads any more (graph outputs are read)."""
    while True:
        read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    unused = [i for i in graph.initializer if i.name not in read]
    for i in unused:
        graph.initializer.remove(i)
