"""Benchmark: which INT8 ONNX form ONNX Runtime runs faster on this host (issue #13, point 1).

For a few zoo models (random weights, 224x224, 1 thread) the FP32 ONNX and mlite's INT8 QDQ export are
timed, plus two variants of the same INT8 file:
- ``qdq_weights_folded``: the QDQ file with ``session.disable_quant_qdq=1`` (ONNX Runtime folds the
  weight DequantizeLinear at load: FP32 arithmetic, shown for reference);
- ``integer_ops``: the QOperator-style form with Paddle's semantics (activations quantized before each
  Conv/MatMul, FP32 outputs): ConvInteger/MatMulInteger on uint8 data (ONNX Runtime's CPU kernels take
  uint8 x uint8 only) followed by the per-channel rescale and the bias. A full QLinearConv form is not
  comparable: it also requantizes conv outputs, which Paddle does not.
Outputs are compared with the QDQ file's. Writes benchmarks/results/onnx_int8.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

MODELS = ("MobileNetV3_small_x1_0", "MobileNetV2_x0_5", "ShuffleNetV2_x1_5", "GhostNet_x0_5")


def integer_ops(src: Path, dst: Path) -> int:
    """Rewrite DQ(x)·DQ(w) -> Conv/MatMul pairs of a QDQ file as ConvInteger/MatMulInteger; count them."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    m = onnx.load(str(src))
    g = m.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    added, chains = [], {}

    def const(name, value):
        added.append(numpy_helper.from_array(value, name))
        return name

    for k, n in enumerate(g.node):
        if n.op_type not in ("Conv", "MatMul"):
            continue
        xd, wd = (prod.get(i) for i in n.input[:2])
        if not (xd and wd) or xd.op_type != "DequantizeLinear" \
                or wd.op_type != "DequantizeLinear" or wd.input[0] not in init:
            continue
        sx, zx = init[xd.input[1]], init[xd.input[2]]
        w, sw = init[wd.input[0]], init[wd.input[1]]
        p = f"int{k}"
        x32 = helper.make_node("Cast", [xd.input[0]], [f"{p}_x32"], to=TensorProto.INT32)
        xs = helper.make_node("Add", [x32.output[0], const(f"{p}_128", np.array(128, np.int32))], [f"{p}_xs"])
        xu = helper.make_node("Cast", [xs.output[0]], [f"{p}_xu"], to=TensorProto.UINT8)
        ins = [xu.output[0], const(f"{p}_w", (w.astype(np.int16) + 128).astype(np.uint8)),
               const(f"{p}_zx", np.array(int(zx) + 128, np.uint8)), const(f"{p}_zw", np.array(128, np.uint8))]
        op = helper.make_node("ConvInteger" if n.op_type == "Conv" else "MatMulInteger", ins, [f"{p}_y"])
        op.attribute.extend(n.attribute)
        shape = (1, -1, 1, 1) if n.op_type == "Conv" else ((1, -1) if sw.size > 1 else ())
        yf = helper.make_node("Cast", [op.output[0]], [f"{p}_yf"], to=TensorProto.FLOAT)
        scaled = const(f"{p}_s", (sx * sw).astype(np.float32).reshape(shape))
        chain = [x32, xs, xu, op, yf]
        if len(n.input) > 2:
            bd = prod.get(n.input[2])
            b = init[n.input[2]] if bd is None else (
                (init[bd.input[0]].astype(np.float32) - init[bd.input[2]].astype(np.float32)) * init[bd.input[1]])
            chain.append(helper.make_node("Mul", [yf.output[0], scaled], [f"{p}_ym"]))
            chain.append(helper.make_node("Add", [f"{p}_ym", const(f"{p}_b", b.astype(np.float32).reshape(shape))],
                                          [n.output[0]]))
        else:
            chain.append(helper.make_node("Mul", [yf.output[0], scaled], [n.output[0]]))
        chains[k] = chain
    nodes = [x for k, n in enumerate(g.node) for x in chains.get(k, [n])]
    g.initializer.extend(added)
    live = {o.name for o in g.output}
    kept = []
    for n in reversed(nodes):                     # drop what the rewrite left unused
        if any(o in live for o in n.output):
            kept.append(n)
            live.update(n.input)
    del g.node[:]
    g.node.extend(reversed(kept))
    inits = [i for i in g.initializer if i.name in live]
    del g.initializer[:]
    g.initializer.extend(inits)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return len(chains)


def _session(path: Path, **config):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    for k, v in config.items():
        so.add_session_config_entry(k, v)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _time(sess, x, rounds=3, repeats=30) -> float:
    """Median ms over interleaving-friendly rounds (the caller alternates sessions between rounds)."""
    name = sess.get_inputs()[0].name
    for _ in range(5):
        sess.run(None, {name: x})
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def measure(name: str, work: Path) -> dict:
    import numpy as np
    from toolkit import api
    res = api.export(name, weights="random", target="x86", onnx=True, out=work, progress=False)
    q = api.quantize(res.fp32.directory, out=work, onnx=True, options=api.Int8Options(), progress=False)
    fp32 = next(res.fp32.directory / a["path"] for a in res.fp32.manifest["artifacts"] if a["format"] == "onnx")
    qdq = next(q.directory / a.path for a in q.artifacts if a.format == "onnx-qdq")
    ints = work / f"{name}_integer_ops.onnx"
    n_int = integer_ops(qdq, ints)
    sessions = {"fp32": _session(fp32), "int8_qdq": _session(qdq),
                "qdq_weights_folded": _session(qdq, **{"session.disable_quant_qdq": "1"}), "integer_ops": _session(ints)}
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    inp = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    ref = sessions["int8_qdq"].run(None, {inp["int8_qdq"]: x})[0]
    diff = {k: float(np.abs(s.run(None, {inp[k]: x})[0] - ref).max() / np.abs(ref).max())
            for k, s in sessions.items() if k != "fp32"}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(3):                              # alternate so a host-speed change hits every form
        for k, s in sessions.items():
            times[k].append(_time(s, x))
    ms = {k: round(statistics.median(v), 3) for k, v in times.items()}
    row = {"model": name, "ms_1_thread": ms, "max_diff_vs_qdq": diff, "integer_op_nodes": n_int,
           "bytes": {"fp32": fp32.stat().st_size, "int8_qdq": qdq.stat().st_size, "integer_ops": ints.stat().st_size}}
    print(f"{name:<26} " + "  ".join(f"{k} {v:.2f} ms" for k, v in ms.items()), flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "onnx_int8.json"))
    args = ap.parse_args(argv)
    import onnxruntime
    from toolkit.devices.local import LocalDevice
    with tempfile.TemporaryDirectory(prefix="mlite-bench-onnx-int8-") as tmp:
        rows = [measure(n, Path(tmp)) for n in args.models.split(",")]
    faster = {r["model"]: min(("int8_qdq", "integer_ops"), key=lambda k: r["ms_1_thread"][k]) for r in rows}
    result = {"what": "ONNX Runtime CPU, 1 thread, batch 1, 224x224, random weights, median of 3 rounds x 30 runs",
              "onnxruntime": onnxruntime.__version__, "host": LocalDevice().info().soc_name, "rows": rows,
              "faster_int8_form": faster}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"faster INT8 form per model: {faster}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
