"""ONNX: paddle2onnx (subprocess: it can abort) then onnxsim, and ONNX Runtime execution."""
from __future__ import annotations

from pathlib import Path

from toolkit.artifacts import temp_dir, writing
from toolkit.errors import ConversionError

from .proc import run_worker

OPSET = 13  # paddle2onnx raises it per op when needed (e.g. hard_swish -> 14)


def to_onnx(model_dir: Path, model_filename: str, params_filename: str, out: Path,
            simplify: bool = True, timeout: float = 600, int8: bool = False) -> dict:
    """Write ``out`` (.onnx); returns {'opset': int, 'simplified': bool} (+ 'qdq' counts for ``int8``: a
    quantized program's QDQ model rewritten to compute what Paddle computes, with int8 weights)."""
    import onnx
    with temp_dir("onnx") as work:
        raw = Path(work) / "raw.onnx"
        run_worker(["-m", "paddle2onnx.command", "--model_dir", str(model_dir),
                    "--model_filename", model_filename, "--params_filename", params_filename,
                    "--save_file", str(raw), "--opset_version", str(OPSET),
                    "--enable_onnx_checker", "True"], what="paddle2onnx", timeout=timeout, writes=raw)
        if not raw.is_file():
            raise ConversionError("paddle2onnx reported success but wrote no ONNX file")
        model = onnx.load(str(raw))
        simplified = False
        if simplify:
            from onnxsim import simplify as onnxsim_simplify
            try:
                model, ok = onnxsim_simplify(model)
            except Exception as e:  # onnxsim raises plain Exceptions on unsupported graphs
                raise ConversionError(f"onnxsim failed: {e}") from None
            if not ok:
                raise ConversionError("onnxsim could not validate the simplified model")
            simplified = True
        qdq = None
        if int8:                  # after onnxsim, which would fold the int8 weights back to FP32
            from .onnx_qdq import paddle_activation_scales, paddle_semantics
            qdq = paddle_semantics(model, paddle_activation_scales(Path(model_dir), model_filename))
            onnx.checker.check_model(model)
        with writing(out):
            onnx.save(model, str(out))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    info = {"opset": opset, "simplified": simplified}
    return info if qdq is None else {**info, "qdq": qdq}


def run_onnxruntime(onnx_path: Path, x, threads: int = 1):
    """Run the model on CPU with ONNX Runtime; return the first output."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]
