"""ONNX -> ncnn (``.ncnn.param`` + ``.ncnn.bin``) with pnnx, the converter ncnn ships on PyPI.

pnnx runs as a subprocess in a scratch directory (it writes several side files next to its input);
only the two ncnn files are kept. FP32 only: ncnn's INT8 tables come from its own calibration tools,
which are not on PyPI.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, asdict
from pathlib import Path

from toolkit.errors import MliteError


class NcnnError(MliteError):
    pass


@dataclass
class NcnnInfo:
    param: str
    bin: str
    pnnx: str                 # version
    layers: int

    def to_dict(self) -> dict:
        return asdict(self)


def pnnx_path() -> Path | None:
    env = os.environ.get("MLITE_PNNX")
    if env:
        return Path(env)
    import importlib.util
    spec = importlib.util.find_spec("pnnx")           # not imported: its __init__ wants torch, the binary does not
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "pnnx"
    return p if p.is_file() else None


def pnnx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pnnx")
    except PackageNotFoundError:
        return "unknown"


def ncnn_version() -> str | None:
    try:
        import ncnn
    except ImportError:
        return None
    return ncnn.__version__


def to_ncnn(onnx_file: Path, input_shape: tuple[int, ...], dest: Path, name: str, timeout: float = 600) -> NcnnInfo:
    """Convert ``onnx_file`` into ``dest/name.ncnn.param`` and ``dest/name.ncnn.bin``."""
    from toolkit.artifacts import temp_dir
    exe = pnnx_path()
    if exe is None:
        raise NcnnError("pnnx (ncnn's converter) is not installed: 'make install' installs it "
                        "(pip install --no-deps pnnx), or point MLITE_PNNX at a pnnx binary")
    with temp_dir("ncnn") as work:
        src = Path(work) / "model.onnx"
        shutil.copyfile(onnx_file, src)
        shape = ",".join(map(str, input_shape))
        try:
            p = subprocess.run([str(exe), str(src), f"inputshape=[{shape}]", "fp16=0"], cwd=work, capture_output=True,
                               text=True, errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise NcnnError(f"pnnx did not finish converting {Path(onnx_file).name} within {timeout:.0f} s") from None
        param, weights = Path(work) / "model.ncnn.param", Path(work) / "model.ncnn.bin"
        if p.returncode != 0 or not param.is_file() or not weights.is_file():
            tail = next((ln for ln in reversed((p.stderr + p.stdout).splitlines()) if ln.strip()), "no output")
            raise NcnnError(f"pnnx could not convert {Path(onnx_file).name} to ncnn (exit {p.returncode}): {tail[:200]}")
        layers = int(param.read_text().splitlines()[1].split()[0])
        out_param, out_bin = Path(dest) / f"{name}.ncnn.param", Path(dest) / f"{name}.ncnn.bin"
        shutil.move(str(param), out_param)
        shutil.move(str(weights), out_bin)
    return NcnnInfo(out_param.name, out_bin.name, pnnx_version(), layers)


def run_on_host(param: Path, x, threads: int = 1):
    """The ncnn net's first output for each input of ``x`` (N, C, H, W), FP32 arithmetic."""
    import numpy as np
    from toolkit.runner import ncnn_net
    try:
        run, _engine = ncnn_net(str(param), threads)
    except RuntimeError as e:
        raise NcnnError(str(e)) from None
    return np.stack([run(xi[None]).reshape(-1) for xi in x])
