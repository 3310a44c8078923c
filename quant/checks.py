"""Sanity checks of an INT8 program on the host: finite outputs, agreement with FP32 and with ONNX Runtime."""
from __future__ import annotations

from pathlib import Path

from toolkit.errors import MliteError
from toolkit.runners import NO_ARM_RUNNER

from .source import Source

CHECK_BATCH = 8
# inputs the INT8 .nb runs on when the ARM kernels are emulated (qemu-user: ~1.5 s per MobileNetV2 input,
# most of a zoo run's time); natively all CHECK_BATCH. An elementwise comparison needs few.
EMULATED_ARM_INPUTS = 2


class QuantizationFailed(MliteError):
    """The quantized model produces non-finite outputs."""


def _stats(ref, out) -> dict:
    import numpy as np
    ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
    diff = np.abs(ref - out)
    return {"max_abs_diff": float(diff.max()), "mean_rel_diff": float(diff.mean() / max(np.abs(ref).mean(), 1e-12)),
            "top1_agreement": float(np.mean(ref.argmax(1) == out.argmax(1)))}


def int8_checks(src: Source, int8_dir: Path, onnx_name: str | None, nb_name: str) -> dict:
    import numpy as np
    from toolkit import parity
    from .runtime import OnnxRuntimeRunner, PaddleStaticRunner
    x = parity.fixed_input((CHECK_BATCH, *src.input_shape[1:]))
    fp32 = PaddleStaticRunner(src.model_file, src.params_file)(x)
    int8 = PaddleStaticRunner(int8_dir / "inference.pdmodel", int8_dir / "inference.pdiparams")(x)
    if not np.all(np.isfinite(int8)):
        raise QuantizationFailed(f"{src.name}: the INT8 model outputs NaN/Inf on a fixed input; "
                                 "try another --algo or more calibration images")
    report = {"input": f"{CHECK_BATCH} fixed standard-normal inputs",
              "paddle_int8_vs_fp32": _stats(fp32, int8)}
    if onnx_name:
        ort = OnnxRuntimeRunner(int8_dir / onnx_name)(x)
        if not np.all(np.isfinite(ort)):
            raise QuantizationFailed(f"{src.name}: the QDQ ONNX model outputs NaN/Inf in ONNX Runtime")
        report["onnxruntime_int8_vs_paddle_int8"] = _stats(int8, ort)
    report.update(_arm_checks(src, int8_dir / nb_name, x, fp32, int8))
    return report


def _arm_checks(src: Source, nb: Path, x, fp32, int8) -> dict:
    """The INT8 .nb itself on Paddle Lite's ARM kernels: agreement with Paddle's simulation and with FP32
    (on the first EMULATED_ARM_INPUTS inputs when the kernels run under qemu-user)."""
    import numpy as np
    from toolkit import device_exec, runners
    found = runners.host_arm_runner()
    if found is None:
        return {"lite_arm": f"{NO_ARM_RUNNER}: the INT8 .nb was not executed"}
    n = EMULATED_ARM_INPUTS if found[1].emulated else len(x)
    arm = device_exec.host_arm_infer(nb, x[:n])
    out = arm.outputs.reshape((n, *int8.shape[1:]))
    if not np.all(np.isfinite(out)):
        raise QuantizationFailed(f"{src.name}: the INT8 .nb outputs NaN/Inf on Paddle Lite's ARM kernels "
                                 f"({device_exec.engine_label(arm.meta)}); please report it")
    return {"lite_arm": device_exec.engine_label(arm.meta), "lite_arm_inputs": n,
            "lite_arm_int8_vs_paddle_int8": _stats(int8[:n], out), "lite_arm_int8_vs_fp32": _stats(fp32[:n], out)}
