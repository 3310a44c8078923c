"""Import Paddle quietly (its glog INFO lines and deprecation warnings are noise for users)."""
from __future__ import annotations

import logging
import os
import warnings


def import_paddle():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("FLAGS_call_stack_level", "0")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Pillow's C core must load before Paddle: with Paddle first, PNG decoding fails with
    # "codec configuration error" (a zlib clash seen with paddlepaddle 2.6.2 + Pillow 12).
    import PIL.Image  # noqa: F401
    import paddle
    paddle.set_device("cpu")
    return paddle


def import_arch(module: str, arch: str):
    """The paddleclas architecture function, with ppcls's stdout logger silenced."""
    import importlib
    mod = importlib.import_module(module)
    from paddleclas.ppcls.utils import logger as ppcls_logger
    ppcls_logger.LoggerHook.block = True   # it logs deprecation notes to stdout (breaks --json)
    logging.getLogger("ppcls").setLevel(logging.ERROR)
    return getattr(mod, arch)


def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape an artifact (recorded in every manifest)."""
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for dist in ("mlite", "paddlepaddle", "paddleclas", "paddlelite", "paddleslim", "paddle2onnx",
                 "onnx", "onnxsim", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out
