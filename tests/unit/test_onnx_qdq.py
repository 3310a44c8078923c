"""converters.onnx_qdq on a small hand-built QDQ graph shaped like paddle2onnx's output."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from converters.onnx_qdq import paddle_semantics

RS = np.random.RandomState(0)
X = RS.randn(1, 2, 1, 1).astype(np.float32)
W = RS.randn(3, 2, 1, 1).astype(np.float32)
B = RS.randn(3).astype(np.float32)
W2 = RS.randn(3, 4).astype(np.float32)
SX, SW, SO, SF = np.float32(0.02), np.array([0.01, 0.02, 0.015], np.float32), np.float32(0.001), np.float32(0.03)


def _graph() -> onnx.ModelProto:
    c = lambda name, a: numpy_helper.from_array(np.asarray(a), name)  # noqa: E731
    inits = [c("W", W), c("B", B), c("W2", W2), c("sx", SX), c("sw", SW), c("so", SO), c("z", np.int8(0)),
             c("zw", np.zeros(3, np.int8)), c("shape", np.array([1, 3], np.int64))]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "z"], ["xdq"]),
        helper.make_node("QuantizeLinear", ["W", "sw", "zw"], ["wq"], axis=0),
        helper.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wdq"], axis=0),
        helper.make_node("Conv", ["xdq", "wdq", "B"], ["conv_out"]),
        # an output observer, as paddle2onnx writes it: real quantization in ONNX Runtime, a no-op in Paddle
        helper.make_node("QuantizeLinear", ["conv_out", "so", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "so", "z"], ["cdq"]),
        helper.make_node("Relu", ["cdq"], ["relu_out"]),
        helper.make_node("Reshape", ["relu_out", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W2"], ["logits"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 1, 1])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _run(m: onnx.ModelProto):
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": X})[0]


def _paddle_reference():
    """What Paddle's simulated INT8 computes: quantized inputs and weights of Conv/MatMul, nothing else."""
    q = lambda a, s, lo=-128: np.clip(np.rint(a / s), lo, 127) * s  # noqa: E731
    xdq = q(X, SX)[0, :, 0, 0]
    wdq = q(W[:, :, 0, 0], SW[:, None])
    relu = np.maximum(wdq @ xdq + B, 0)[None]
    w2_scale = np.abs(W2).max(axis=0) / 127
    return q(relu, SF) @ q(W2, w2_scale, -127)


def test_rewrite_computes_paddles_int8_with_int8_weights():
    m = _graph()
    before = _run(m)
    counts = paddle_semantics(m, {"x": float(SX), "flat": float(SF)})
    onnx.checker.check_model(m)
    assert counts["observer_qdq_bypassed"] == 1 and counts["weights_int8"] == 1 and counts["matmuls_quantized"] == 1
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    assert all(a.dtype != np.float32 or a.size <= 4 for a in inits.values()), "an FP32 weight is left"
    assert "W" not in inits and "W2" not in inits
    relu = next(n for n in m.graph.node if n.op_type == "Relu")
    assert list(relu.input) == ["conv_out"]                     # the observer pair is gone
    ref = _paddle_reference()
    np.testing.assert_allclose(_run(m), ref, rtol=1e-5, atol=1e-5)
    assert np.abs(before - ref).max() > 1e-3                    # the observer changed the numbers before


def test_a_conv_input_paddle_does_not_quantize_loses_its_qdq():
    """A layer kept FP32 (PaddleSlim skip list) may still read an observer pair: it must read the raw tensor."""
    m = _graph()
    paddle_semantics(m, {"flat": float(SF)})          # Paddle quantizes the MatMul's input, not the Conv's
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    assert conv.input[0] == "x"


def test_without_recorded_scales_the_matmul_is_left_alone():
    m = _graph()
    counts = paddle_semantics(m)
    assert counts["matmuls_quantized"] == 0
    mm = next(n for n in m.graph.node if n.op_type == "MatMul")
    assert list(mm.input) == ["flat", "W2"]


@pytest.mark.parametrize("name", ["QuantizeLinear.12", "helper.constant.3"])
def test_generated_names_are_shortened_but_graph_outputs_are_kept(name):
    m = _graph()
    for n in m.graph.node:
        n.output[:] = [name if o == "logits" else o for o in n.output]
    m.graph.output[0].name = name
    paddle_semantics(m)
    assert m.graph.output[0].name == name and any(name in n.output for n in m.graph.node)
