"""Host inference for FP32 and INT8 (simulated-quantization) programs: Paddle static executor, ONNX Runtime.

Paddle Lite's x86 INT8 kernels return wrong values, so INT8 is never run through Lite here.
"""
from __future__ import annotations

from pathlib import Path

from toolkit.errors import CorruptFile, MliteError


def unloadable(path: Path, engine: str, e: Exception) -> CorruptFile:
    """One line for a model file an engine cannot load: it is damaged, truncated or not a model."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:160]
    return CorruptFile(f"{engine} cannot load {str(path)!r}: it is damaged or not a model ({first}); "
                       "re-export it ('mlite export' / 'mlite quantize')")


class Runner:
    """Callable: NCHW float32 batch -> logits."""

    backend = "?"

    def __call__(self, x):
        raise NotImplementedError


class PaddleStaticRunner(Runner):
    backend = "paddle"

    def __init__(self, model_file: Path, params_file: Path):
        from toolkit.paddle_env import import_paddle
        paddle = import_paddle()
        self._paddle = paddle
        self._scope = paddle.static.Scope()
        with self._static():
            self._exe = paddle.static.Executor(paddle.CPUPlace())
            if Path(params_file) != Path(model_file).with_suffix(".pdiparams"):
                raise MliteError(f"{params_file} must sit beside {model_file} with the same stem")
            try:
                self._prog, self._feeds, self._fetches = paddle.static.load_inference_model(
                    str(Path(model_file).with_suffix("")), self._exe)
            except Exception as e:  # Paddle raises many types (ValueError, RuntimeError, protobuf errors)
                raise unloadable(model_file, "Paddle", e) from None

    def _static(self):
        import contextlib
        paddle = self._paddle

        @contextlib.contextmanager
        def guard():
            was_dynamic = paddle.in_dynamic_mode()
            paddle.enable_static()
            try:
                with paddle.static.scope_guard(self._scope):
                    yield
            finally:
                if was_dynamic:
                    paddle.disable_static()
        return guard()

    def __call__(self, x):
        with self._static():
            return self._exe.run(self._prog, feed={self._feeds[0]: x}, fetch_list=self._fetches)[0]


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, onnx_path: Path, threads: int = 0):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise unloadable(onnx_path, "ONNX Runtime", e) from None
        self._name = self._sess.get_inputs()[0].name

    def __call__(self, x):
        return self._sess.run(None, {self._name: x})[0]


BACKENDS = {"paddle": "Paddle static executor (FP32, and INT8 as simulated quantization)",
            "onnxruntime": "ONNX Runtime CPU (FP32, and INT8 as QDQ)"}


def runner_for(model_dir: Path, backend: str, manifest=None) -> Runner:
    """A runner for an artifact directory (with or without an mlite manifest)."""
    model_dir = Path(model_dir)
    if backend == "paddle":
        model_file, params_file = find_paddle_model(model_dir)
        return PaddleStaticRunner(model_file, params_file)
    if backend == "onnxruntime":
        onnx_files = sorted(model_dir.glob("*.onnx"))
        if not onnx_files:
            raise MliteError(f"{str(model_dir)!r} has no .onnx model for --backend onnxruntime; "
                             "export with --onnx, or use --backend paddle")
        return OnnxRuntimeRunner(onnx_files[0])
    raise MliteError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def find_paddle_model(model_dir: Path) -> tuple[Path, Path]:
    """The ``*.pdmodel`` / ``*.pdiparams`` pair of an inference-model directory."""
    models = sorted(Path(model_dir).glob("*.pdmodel"))
    if len(models) != 1 or not models[0].with_suffix(".pdiparams").is_file():
        raise MliteError(f"{str(model_dir)!r} is not a Paddle inference model directory: expected one "
                         "X.pdmodel with its X.pdiparams (as written by paddle.jit.save or 'mlite export')")
    return models[0], models[0].with_suffix(".pdiparams")
