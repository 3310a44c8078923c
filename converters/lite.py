"""Paddle Lite: targets, opt (compat pass, graph simplification, subprocess), and host execution of an x86 ``.nb``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.artifacts import temp_dir
from toolkit.errors import ConversionError, UnknownTarget

from . import compat, simplify
from .proc import run_worker


@dataclass(frozen=True)
class Target:
    name: str
    valid_places: str     # opt's --valid_targets
    runs_on_host: bool    # can this machine execute the .nb (for parity checks)?
    description: str


TARGETS: dict[str, Target] = {
    "arm": Target("arm", "arm", False, "ARM CPU (Android/ARM Linux phones, e.g. Snapdragon 855)"),
    "x86": Target("x86", "x86", True, "x86 CPU (this host; used for parity checks and host benchmarks)"),
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTarget(f"unknown target {name!r}: Paddle Lite targets here are "
                            f"{', '.join(TARGETS)}; pass --target arm (phones) or --target x86 (host)") from None


@dataclass
class OptResult:
    nb_path: Path
    compat_fixes: dict[str, int]
    simplified: dict[str, int]


FP16_OPT_HINT = ("the FP16 opt is ../shared/arm-fp16/bin/opt (Paddle Lite v2.13-rc built with "
                 "LITE_WITH_ARM82_FP16; its README has the recipe); or set MLITE_FP16_OPT=PATH")


def fp16_opt() -> Path:
    """Paddle Lite's x86 opt whose --enable_fp16 works (the pip paddlelite opt ignores it)."""
    import os
    env = os.environ.get("MLITE_FP16_OPT")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "arm-fp16" / "bin" / "opt"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConversionError(f"no FP16-capable Paddle Lite opt at {path}: {FP16_OPT_HINT}")
    return path


def optimize(model_file: Path, params_file: Path, target: Target, out_nb: Path,
             timeout: float = 600, fp16: bool = False) -> OptResult:
    """Convert a Paddle inference model into ``out_nb`` for ``target``; ``fp16``: a baked FP16 ARM ``.nb``
    (FP16 kernels and calib ops chosen by opt --enable_fp16; weights stay FP32 in the file)."""
    if out_nb.suffix != ".nb":
        raise ValueError("out_nb must end with .nb")
    if fp16 and target.name != "arm":
        raise ConversionError(f"FP16 .nb files are for ARM (Paddle Lite's ARM FP16 kernels), not {target.name}")
    with temp_dir("opt") as work:
        fixed = Path(work) / "model.pdmodel"
        data, fixes = compat.fix_program_bytes(Path(model_file).read_bytes())
        data, simplified = simplify.simplify_bytes(data)
        fixed.write_bytes(data)
        if fp16:
            run_worker([str(fp16_opt()), f"--model_file={fixed}", f"--param_file={params_file}",
                        "--optimize_out_type=naive_buffer", f"--optimize_out={out_nb.with_suffix('')}",
                        "--valid_targets=arm", "--enable_fp16=true"], what="paddle_lite_opt (arm, --enable_fp16)",
                       timeout=timeout, writes=out_nb)
        else:
            run_worker(["-m", "converters.lite_opt", str(fixed), str(params_file), target.valid_places,
                        str(out_nb.with_suffix(""))], what=f"paddle_lite_opt ({target.name})", timeout=timeout,
                       writes=out_nb)
    if not out_nb.is_file() or out_nb.stat().st_size == 0:
        raise ConversionError(f"paddle_lite_opt ({target.name}) reported success but wrote no {out_nb.name}")
    clear_version_padding(out_nb)
    return OptResult(out_nb, fixes, simplified)


VERSION_FIELD = slice(2, 18)      # .nb header: u16 meta version, then the opt version as a 16-byte C string


def clear_version_padding(nb: Path) -> None:
    """Zero the bytes after the version string's NUL: opt leaves them uninitialized, so the same model
    would get different bytes on each run (Paddle Lite reads the field only up to the NUL)."""
    with open(nb, "r+b") as f:
        head = bytearray(f.read(VERSION_FIELD.stop))
        field = head[VERSION_FIELD]
        end = field.find(0)
        if end < 0 or not any(field[end:]):
            return
        f.seek(VERSION_FIELD.start + end)
        f.write(bytes(len(field) - end))


def run_on_host(nb_path: Path, x, timeout: float = 300):
    """Run an x86 ``.nb`` on one input array in a subprocess; return the first output."""
    import numpy as np
    with temp_dir("run") as work:
        inp, out = Path(work) / "in.npy", Path(work) / "out.npy"
        np.save(inp, x)
        run_worker(["-m", "converters.lite_run", str(nb_path), str(inp), str(out)],
                   what=f"Paddle Lite x86 run of {nb_path.name}", timeout=timeout)
        return np.load(out)
