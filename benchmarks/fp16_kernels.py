"""Benchmark: which of Paddle Lite's ARM FP16 kernels compute NaN, on one-op networks.

MobileNetV3 exports at 32x32 compute NaN in FP16 (benchmarks/results/fp16.json, NaN probe). At 32 px a
stride-32 network's last stages run on 1x1 feature maps. Each network here is a 1x1 convolution (the stem,
so the FP16 run starts with a conv as Paddle Lite wants) and one op of the MobileNetV3 tail, exported at
H x W = 1, 2 and 4, baked with ``opt --enable_fp16``, and run on mlite-arm-runner-fp16 against Paddle FP32.
Writes benchmarks/results/fp16_kernels.json.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

OPS = ("conv1x1", "dw3x3", "dw3x3_s2", "dw5x5", "hardswish", "se", "avgpool")
SIZES = (1, 2, 4)
CHANNELS = (16, 96)


def _net(op: str, c: int):
    from toolkit.paddle_env import import_paddle
    paddle = import_paddle()
    nn = paddle.nn

    class OneOp(nn.Layer):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2D(3, c, 1)
            self.body = {"conv1x1": lambda: nn.Conv2D(c, c, 1),
                         "dw3x3": lambda: nn.Conv2D(c, c, 3, padding=1, groups=c),
                         "dw3x3_s2": lambda: nn.Conv2D(c, c, 3, stride=2, padding=1, groups=c),
                         "dw5x5": lambda: nn.Conv2D(c, c, 5, padding=2, groups=c),
                         "hardswish": nn.Hardswish, "avgpool": lambda: nn.AdaptiveAvgPool2D(1),
                         "se": lambda: nn.Sequential(nn.AdaptiveAvgPool2D(1), nn.Conv2D(c, 4, 1), nn.ReLU(),
                                                     nn.Conv2D(4, c, 1), nn.Hardsigmoid())}[op]()
            self.op = op

        def forward(self, x):
            x = self.stem(x)
            return x * self.body(x) if self.op == "se" else self.body(x)

    paddle.seed(0)
    net = OneOp()
    net.eval()
    return paddle, net


def probe(op: str, hw: int, c: int, work: Path) -> dict:
    import numpy as np
    from paddle.static import InputSpec
    from converters import lite
    from toolkit import device_exec
    paddle, net = _net(op, c)
    d = work / f"{op}_{hw}_{c}"
    d.mkdir(parents=True, exist_ok=True)
    with paddle.utils.unique_name.guard():
        paddle.jit.save(net, str(d / "inference"), input_spec=[InputSpec([1, 3, hw, hw], "float32", "x")])
    nb = d / "m.nb"
    lite.optimize(d / "inference.pdmodel", d / "inference.pdiparams", lite.TARGETS["arm"], nb, fp16=True)
    x = np.random.RandomState(0).standard_normal((1, 3, hw, hw)).astype("float32")
    ref = net(paddle.to_tensor(x)).numpy().astype("float64")
    run = device_exec.host_arm_infer(nb, x, fp16=True)
    out = np.asarray(run.outputs, dtype="float64").reshape(ref.shape)
    finite = np.isfinite(out)
    rel = float(np.abs(out - ref)[finite].max() / max(np.abs(ref).max(), 1e-12)) if finite.any() else None
    return {"op": op, "hw": hw, "channels": c, "non_finite": int((~finite).sum()), "values": int(out.size),
            "relative_finite": rel, "ran": run.meta.cpu_precision}


def main(argv=None) -> int:
    from toolkit import runners
    if runners.host_arm_runner(fp16=True) is None:
        raise SystemExit("benchmarks.fp16_kernels: no usable FP16 ARM runner: run 'make arm-runner arm-qemu' first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlite-bench-fp16k-") as work:
        for op in OPS:
            for c in CHANNELS:
                for hw in SIZES:
                    r = probe(op, hw, c, Path(work))
                    rows.append(r)
                    print(f"{op:<10} {hw}x{hw} C={c:<3} NaN {r['non_finite']:>2}/{r['values']:<4} "
                          f"finite rel {r['relative_finite']:.1e}  ran {r['ran']}", flush=True)
    nan = sorted({(r["op"], r["hw"]) for r in rows if r["non_finite"]})
    result = {"note": "one-op networks (1x1 conv stem + op) baked FP16, on mlite-arm-runner-fp16 under qemu-user",
              "rows": rows, "nan_at": [f"{op} {hw}x{hw}" for op, hw in nan]}
    out = Path(__file__).parent / "results" / "fp16_kernels.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["nan_at"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
