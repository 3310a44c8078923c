"""Command line: parse, call one API function, print. Heavy imports stay inside commands."""
from __future__ import annotations

import functools
import json
import sys

import click

from .errors import MliteError


def _fail(msg: str, code: int) -> None:
    click.echo(f"mlite: error: {msg}", err=True)
    sys.exit(code)


def handle_errors(fn):
    """Turn MliteError / Ctrl-C into one line on stderr and a non-zero exit."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MliteError as e:
            _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written was kept, rerun the same command to continue", 130)
    return wrapper


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlite")
def main() -> None:
    """mlite: PaddleClas mobile models -> Paddle Lite .nb / ONNX -> your phone."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def models(as_json: bool) -> None:
    """List the 37 PaddleClas mobile models with their published SD855 numbers."""
    from . import api
    rows = api.models()
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table
    t = Table(title="PaddleClas mobile models (published, Snapdragon 855, bs=1)")
    for col in ("model", "top-1", "top-5", "GFLOPs", "params M", "ms t=1", "ms t=2", "ms t=4", "storage MB"):
        t.add_column(col, justify="left" if col == "model" else "right")
    fmt = lambda v, spec="{:.3f}": "-" if v is None else spec.format(v)  # noqa: E731
    for r in rows:
        ref = r["reference"]
        t.add_row(r["name"], fmt(ref["top1"]), fmt(ref["top5"]), fmt(ref["flops_g"]), fmt(ref["params_m"], "{:.2f}"),
                  fmt(ref["sd855_ms_t1"], "{:.2f}"), fmt(ref["sd855_ms_t2"], "{:.2f}"),
                  fmt(ref["sd855_ms_t4"], "{:.2f}"), fmt(ref["storage_mb"], "{:.1f}"))
    import shutil
    Console(width=max(shutil.get_terminal_size().columns, 120)).print(t)


_STEP_OF_FORMAT = {"paddle-program": "build", "paddle-params": "build", "onnx": "onnx"}


@main.command()
@click.option("--model", required=True, help="Zoo name, e.g. MobileNetV3_small_x1_0 (see 'mlite models').")
@click.option("--weights", default="pretrained", show_default=True,
              help="pretrained (download PaddleClas weights) | random (seeded; latency/size only) | PATH.pdparams")
@click.option("--target", default="arm", show_default=True, help="Paddle Lite target: arm | x86.")
@click.option("--onnx", is_flag=True, help="Also write NAME.onnx (paddle2onnx + onnxsim).")
@click.option("--out", default="mlite_out", show_default=True, type=click.Path(), help="Output root; writes OUT/NAME/.")
@click.option("--seed", default=0, show_default=True, help="Seed for random weights.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the manifest).")
@handle_errors
def export(model, weights, target, onnx, out, seed, as_json) -> None:
    """Export a zoo model to Paddle inference, Paddle Lite .nb and (with --onnx) ONNX."""
    from . import api
    res = api.export(model=model, weights=weights, target=target, onnx=onnx, out=out, seed=seed,
                     progress=not as_json)
    if as_json:
        _print_json(res.to_dict())
        return
    m = res.manifest
    timings = m.get("timings_s", {})
    state = "up to date (cached)" if res.cached else "exported"
    click.echo(f"{res.model}: {state} with {m['weights']['label']} -> {res.directory}")
    for a in res.artifacts:
        step = _STEP_OF_FORMAT.get(a.format, f"opt {a.target}")
        secs = "" if res.cached else f"  {timings.get(step, 0):6.1f} s"
        click.echo(f"  {a.path:<34} {a.bytes / 1e6:8.2f} MB  {a.format:<15} {a.target:<4}{secs}")
    for c in m.get("parity", []):
        click.echo(f"  parity {c['backend']}: max |diff| {c['max_abs_diff']:.2e} "
                   f"({c['relative']:.1e} of scale, tolerance {c['tolerance']:g})")
    click.echo(f"next: mlite push --adb --model-dir {res.directory}")
