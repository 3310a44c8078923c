"""Command line: parse, call one API function, print. Heavy imports stay inside commands."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from pathlib import Path

import click

from .errors import MliteError


_channel = None          # the JsonChannel of the running --json command


def _fail(failure) -> None:
    from .signals import settle
    settle()
    click.echo(f"mlite: error: {failure.message}", err=True)
    if _channel is not None:
        _channel.emit(failure.to_dict())
    sys.exit(failure.exit_code)


def handle_errors(fn):
    """Any failure -> one line on stderr (and with --json one ``{"error": ...}`` object on stdout), a non-zero
    exit, no traceback. With --json only our JSON reaches stdout (fd 1 points at stderr meanwhile)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _channel
        import os
        from .cli_io import JsonChannel, describe
        channel = JsonChannel() if kwargs.get("as_json") else None
        with channel or contextlib.nullcontext():
            _channel = channel
            try:
                return fn(*args, **kwargs)
            except (Exception, KeyboardInterrupt) as e:
                expected = isinstance(e, (MliteError, KeyboardInterrupt, OSError))
                if not expected and os.environ.get("MLITE_DEBUG"):
                    raise
                _fail(describe(e))
            finally:
                _channel = None
    return wrapper


def _print_json(data) -> None:
    if _channel is not None:
        from .signals import settle
        settle()                       # the result is out: a late signal must not add an error object after it
        _channel.emit(data)
    else:
        click.echo(json.dumps(data, indent=2, default=str))


class _Group(click.Group):
    """Usage errors (unknown option, missing value) also answer ``--json`` with a JSON error object."""

    def main(self, args=None, prog_name=None, **extra):
        from . import procs
        from .signals import install, settle
        procs.install()                # a signal stops the child processes and the work threads
        install()                      # SIGTERM cleans up like Ctrl-C
        args = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(args, prog_name=prog_name, standalone_mode=False, **extra)
        except BaseException as e:
            settle()                   # whatever ends the command, a late signal no longer changes how
            if isinstance(e, click.ClickException):
                e.show()
                if "--json" in args:
                    from .cli_io import Failure
                    failure = Failure(message=e.format_message(), kind=type(e).__name__, exit_code=e.exit_code)
                    click.echo(json.dumps(failure.to_dict(), indent=2))
                sys.exit(e.exit_code)
            if isinstance(e, click.exceptions.Abort):
                click.echo("mlite: error: interrupted", err=True)
                sys.exit(130)
            raise
        settle()
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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


_STEP_OF_FORMAT = {"paddle-program": "build", "paddle-params": "build", "onnx": "onnx", "onnx-qdq": "onnx",
                   "paddle-program-int8": "ptq"}


def _next_hint(res) -> str:
    """A command that works on what was just written (paths shell-quoted)."""
    import shlex
    q = shlex.quote(str(res.directory))
    files = [(str(a.get("path", "")), a.get("target")) for a in res.manifest.get("artifacts", [])]
    if any(p.endswith(".nb") and t == "arm" for p, t in files):
        return f"mlite push --adb --model-dir {q}"
    backends = (["lite"] if any(p.endswith(".nb") for p, _ in files) else []) + \
        (["onnxruntime"] if any(p.endswith(".onnx") for p, _ in files) else [])
    if not backends:
        return f"mlite export --model {shlex.quote(res.manifest.get('model', 'NAME'))} --onnx"
    return f"mlite bench --local --model-dir {q} --backend {','.join(backends)}"


def _print_result(res) -> None:
    """One line per artifact (size, format, target, seconds), then the checks."""
    m = res.manifest
    timings = m.get("timings_s", {})
    state = "up to date (cached)" if res.cached else "written"
    click.echo(f"{res.model}: {state}, {m['precision'].upper()}, {m['weights']['label']} -> {res.directory}")
    for a in res.artifacts:
        step = _STEP_OF_FORMAT.get(a.format, f"opt {a.target}" + (" fp16" if m["precision"] == "fp16" else ""))
        if m["precision"] == "int8" and a.format in ("paddle-program-int8", "paddle-params"):
            step = m.get("method", "ptq")
        secs = "" if res.cached else f"  {timings.get(step, 0):6.1f} s"
        click.echo(f"  {a.path:<38} {a.bytes / 1e6:8.2f} MB  {a.format:<19} {a.target:<4}{secs}")
    for c in m.get("parity", []):
        click.echo(f"  parity {c['backend']}: {c['relative']:.1e} of the output scale from Paddle (max |diff| "
                   f"{c['max_abs_diff']:.2e}), {'within' if c['ok'] else 'NOT within'} the tolerance {c['tolerance']:g} "
                   "of scale")
    ck = m.get("fp16_check")
    if ck:
        verdict = "within" if ck["ok"] else "NOT within (latency/size only)"
        click.echo(f"  FP16 kernels ({ck['engine']}): {ck['ran']} ran, {ck['inputs']} fixed inputs, no NaN, output "
                   f"{ck['relative']:.1e} of its scale from Paddle FP32 (max |diff| {ck['max_abs_diff']:.2e}), "
                   f"{verdict} the FP16 tolerance {ck['tolerance']:g}; runs only on armv8.2 CPUs with FP16 arithmetic")
    if m["precision"] == "int8":
        cal = m["calibration"]
        click.echo(f"  {m['method'].upper()} algo={m['algo']} calibration={cal['kind']} ({cal['images']} images), "
                   f"{m['bytes_per_param']:.2f} bytes/param ({m['params']:,} params)")
        mixed = m.get("mixed")
        if mixed:
            top = ", ".join(mixed["most_sensitive"][:3])
            click.echo(f"  sensitivity ({mixed['images']} images): most sensitive {top} -> {mixed['table']}")
            if "max_drop" in mixed:
                kept = mixed["fp32_layers"]
                got = mixed.get("drop_points", mixed["estimated_drop_points"])
                click.echo(f"  mixed precision: {len(kept)} layer(s) kept FP32 ({', '.join(kept) or 'none'}), "
                           f"top-1 drop {got:+.2f} points (budget {mixed['max_drop']:g})")
        if isinstance(m.get("checks", {}).get("lite_arm"), str):
            click.echo(f"  INT8 .nb on ARM kernels: {m['checks']['lite_arm']}")
        random = m.get("weights", {}).get("kind") == "random"
        for name, st in m.get("checks", {}).items():
            if isinstance(st, dict) and random:
                # random weights give near-tied logits: a rounding difference flips the argmax
                click.echo(f"  check {name}: mean rel. diff {st['mean_rel_diff']:.1e} (top-1 agreement "
                           f"{st['top1_agreement']:.0%} means nothing with random weights: their class scores are "
                           "nearly tied; use pretrained or trained weights for it)")
            elif isinstance(st, dict):
                click.echo(f"  check {name}: top-1 agreement {st['top1_agreement']:.0%}, "
                           f"mean rel. diff {st['mean_rel_diff']:.1e}")
    for w in getattr(res, "warnings", []):
        click.echo(f"  warning: {w}")


def _int8_options(calib, calib_size, algo, batch_size, qat, train, epochs, lr, sensitivity=False, max_drop=None,
                  val=None):
    from .api import Int8Options
    from .errors import MliteError
    if qat and train is None:
        raise MliteError("--qat needs --train DIR: a labelled image folder (one sub-folder per class)")
    if train is not None and not qat:
        raise MliteError("--train is only used with --qat (quantization-aware training); add --qat or drop --train")
    return Int8Options(calib=calib, calib_size=calib_size, algo=algo, batch_size=batch_size,
                       qat_train=train if qat else None, qat_epochs=epochs, qat_lr=lr,
                       sensitivity=sensitivity, max_drop=max_drop, val=val)


def int8_options(f):
    """Options shared by `export --int8` and `quantize`."""
    for opt in reversed([
        click.option("--calib", type=click.Path(), help="Calibration image folder (jpg/png/bmp, nested allowed)."),
        click.option("--calib-size", type=int, help="Use N calibration images (default: all)."),
        click.option("--algo", default="hist", show_default=True,
                     help="Activation calibration: avg | abs_max | hist | KL | mse | emd."),
        click.option("--batch-size", default=8, show_default=True, help="Calibration / QAT batch size."),
        click.option("--qat", is_flag=True, help="Quantization-aware training instead of PTQ (needs --train)."),
        click.option("--train", type=click.Path(), help="Labelled training folder for --qat."),
        click.option("--epochs", default=1, show_default=True, help="QAT epochs."),
        click.option("--lr", default=0.001, show_default=True, help="QAT learning rate."),
    ]):
        f = opt(f)
    return f


@main.command()
@click.option("--model", required=True, help="Zoo name, e.g. MobileNetV3_small_x1_0 (see 'mlite models').")
@click.option("--weights", default="pretrained", show_default=True,
              help="pretrained (download PaddleClas weights) | random (seeded; latency/size only) | PATH.pdparams")
@click.option("--target", default="arm", show_default=True, help="Paddle Lite target: arm | x86.")
@click.option("--onnx", is_flag=True, help="Also write NAME.onnx (paddle2onnx + onnxsim).")
@click.option("--ncnn", is_flag=True, help="Also write NAME.ncnn.param/.bin (pnnx from the ONNX; FP32), parity-checked.")
@click.option("--int8", "int8", is_flag=True, help="Also quantize to INT8 with PaddleSlim (writes OUT/NAME_int8/).")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="fp32, fp16, int8 or a list (fp32,fp16,int8): fp16 writes OUT/NAME_fp16/ (baked FP16 .nb for "
                   "armv8.2 CPUs, checked on Paddle Lite's FP16 kernels); int8 is --int8.")
@int8_options
@click.option("--image-size", default=224, show_default=True, help="Square input size.")
@click.option("--num-classes", type=int, help="Classifier size (default: from the weights file, else 1000).")
@click.option("--out", default="mlite_out", show_default=True, type=click.Path(), help="Output root; writes OUT/NAME/.")
@click.option("--seed", default=0, show_default=True, help="Seed for random weights.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the manifests).")
@handle_errors
def export(model, weights, target, onnx, ncnn, int8, precisions, calib, calib_size, algo, batch_size, qat, train,
           epochs, lr, image_size, num_classes, out, seed, as_json) -> None:
    """Export a zoo model to Paddle inference, Paddle Lite .nb and (with --onnx) ONNX; --int8 quantizes."""
    from . import api
    from .errors import MliteError
    wanted = _precisions(precisions)
    int8 = int8 or "int8" in wanted
    opts = None
    if int8 or model.endswith("_int8"):
        opts = _int8_options(calib, calib_size, algo, batch_size, qat, train, epochs, lr)
    elif calib or qat or train:
        from .errors import MliteError
        raise MliteError("--calib/--qat/--train only apply with --int8")
    res = api.export(model=model, weights=weights, target=target, onnx=onnx, out=out, seed=seed,
                     image_size=image_size, num_classes=num_classes, int8=opts, progress=not as_json, ncnn=ncnn,
                     fp16="fp16" in wanted)
    if as_json:
        _print_json(res.to_dict())
        return
    _print_result(res.fp32)
    for extra in (res.int8, res.fp16):
        if extra is not None:
            _print_result(extra)
    click.echo(f"next: {_next_hint(res.int8 or res.fp16 or res.fp32)}")


@main.command()
@click.option("--model-dir", required=True, type=click.Path(), help="FP32 Paddle inference model directory.")
@int8_options
@click.option("--target", default="arm", show_default=True, help="INT8 .nb target (arm).")
@click.option("--onnx", is_flag=True, help="Also write a QDQ ONNX model.")
@click.option("--out", type=click.Path(), help="Output root (default: beside --model-dir); writes OUT/NAME_int8/.")
@click.option("--sensitivity", is_flag=True,
              help="Measure each layer's loss when only it is INT8; writes NAME_int8/sensitivity.json.")
@click.option("--max-drop", type=float, metavar="POINTS",
              help="Keep the most sensitive layers FP32 until the top-1 drop on --val is at most POINTS.")
@click.option("--val", type=click.Path(), help="Labelled images for --sensitivity/--max-drop "
                                               "(default for --sensitivity: the calibration set, output distance).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the manifest).")
@handle_errors
def quantize(model_dir, calib, calib_size, algo, batch_size, qat, train, epochs, lr, target, onnx, out, sensitivity,
             max_drop, val, as_json):
    """INT8-quantize an exported (or your own) Paddle inference model with PaddleSlim."""
    from . import api
    opts = _int8_options(calib, calib_size, algo, batch_size, qat, train, epochs, lr, sensitivity, max_drop, val)
    res = api.quantize(model_dir, out=out, target=target, onnx=onnx, options=opts, progress=not as_json)
    if as_json:
        _print_json(res.to_dict())
        return
    _print_result(res)
    click.echo(f"next: {_next_hint(res)}")


@main.command(name="eval")
@click.option("--model-dir", required=True, type=click.Path(), help="An FP32 or INT8 artifact directory.")
@click.option("--data", required=True, type=click.Path(), help="Labelled images: class sub-folders or val_list.txt.")
@click.option("--labels", type=click.Path(), help="A 'relative/path.jpg label' list (default: DATA/val_list.txt or folders).")
@click.option("--limit", type=int, help="Evaluate on N images (a fixed sample).")
@click.option("--backend", default="paddle", show_default=True,
              help="Host engine: paddle | onnxruntime (with --device: the engine shown beside the device's).")
@click.option("--device", help="Run the .nb on a device: adb serial, adb:SERIAL, ssh:USER@HOST[:PORT] (a board; "
              "MLITE_SSH_IDENTITY/MLITE_SSH_CONFIG apply), or local (this host's ARM runtime).")
@click.option("--threads", default=2, show_default=True, help="Threads on the device (--device).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def eval_cmd(model_dir, data, labels, limit, backend, device, threads, as_json) -> None:
    """Top-1 / top-5 on this host or on a device's runtime; for INT8 also its FP32 source and their agreement."""
    from . import api
    r = api.evaluate(model_dir, data, labels=labels, limit=limit, backend=backend, device=device, threads=threads)
    if as_json:
        _print_json(r.to_dict())
        return
    where = ""
    if r.device is not None:
        where = f" on {r.device.get('model') or r.device['serial']} [{r.engine}]"
    click.echo(f"{r.model} ({r.precision}, {r.backend}){where} on {r.images} images: top-1 {r.top1:.2%}  "
               f"top-5 {r.top5:.2%}" + (f"  [{r.skipped_unreadable} unreadable skipped]" if r.skipped_unreadable else ""))
    if r.host_top1 is not None:
        click.echo(f"host ({r.host_backend}): top-1 {r.host_top1:.2%}  top-5 {r.host_top5:.2%}  "
                   f"top-1 agreement with the device {r.host_agreement:.2%}")
    if r.agreement is not None:
        click.echo(f"FP32 source: top-1 {r.fp32_top1:.2%}  top-5 {r.fp32_top5:.2%}  drop {r.top1_drop:+.2f} points  "
                   f"top-1 agreement {r.agreement:.2%}")
    for w in r.warnings:
        click.echo(f"mlite: warning: {w}", err=True)


def _words(value: str) -> list[str]:
    return [w.strip() for w in value.split(",") if w.strip()]


def _precisions(value: str) -> list[str]:
    """``--precision`` of export and run: a comma list of fp32, fp16, int8."""
    from .errors import MliteError
    wanted = _words(value)
    if not wanted or any(p not in ("fp32", "fp16", "int8") for p in wanted):
        raise MliteError(f"--precision {value!r}: choose from fp32, fp16, int8 (a comma list, e.g. fp32,fp16)")
    return wanted


def _int_list(value: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise MliteError(f"{flag} {value!r}: expected comma-separated integers, e.g. 1,2,4") from None
    if not values:
        raise MliteError(f"{flag} {value!r} names no value: give comma-separated integers, e.g. 1,2,4")
    return list(dict.fromkeys(values))          # 1,1 measures once


def _ssh_key_options(f):
    """--identity / --ssh-config for boards reached over SSH."""
    f = click.option("--ssh-config", type=click.Path(), help="OpenSSH client config for the boards (ssh -F; "
                     "default MLITE_SSH_CONFIG or ~/.ssh/config).")(f)
    return click.option("--identity", type=click.Path(), help="Private key for the boards (ssh -i; default "
                        "MLITE_SSH_IDENTITY or ssh's own keys).")(f)


def _ssh_options(f):
    """--ssh / --identity / --ssh-config: ARM Linux boards through the system OpenSSH client."""
    return click.option("--ssh", "ssh", multiple=True, metavar="USER@HOST[:PORT]",
                        help="An ARM Linux board over SSH (repeatable); host keys must be known.")(_ssh_key_options(f))


def _now(row: dict) -> str:
    """A device's thermal state for listings: hottest zone, governors, cores capped below their maximum."""
    now = row.get("now") or {}
    parts = [f"{now['hottest_c']:.1f} °C" if now.get("hottest_c") is not None else "temperature ?"]
    if now.get("governors"):
        parts.append("/".join(now["governors"]))
    if now.get("throttled_cores"):
        parts.append("capped cpu" + ",".join(map(str, now["throttled_cores"])))
    return "  " + ", ".join(parts)


def _adb_server_option(f):
    return click.option("--adb-server", "adb_servers", multiple=True, metavar="HOST:PORT",
                        help="An adb server to use (repeatable: a farm over several hosts); default "
                             "ADB_SERVER_SOCKET, else the local one.")(f)


def _cooling_options(f):
    """--cooldown / --cooldown-until / --cooldown-timeout: thermal rest before device runs."""
    f = click.option("--cooldown-timeout", default=600.0, show_default=True,
                     help="Longest wait for --cooldown-until, seconds (then the run goes ahead, flagged).")(f)
    f = click.option("--cooldown-until", type=float, metavar="CELSIUS",
                     help="Before each run, wait until the device's hottest thermal zone is at or below this.")(f)
    return click.option("--cooldown", default=0.0, show_default=True, help="Seconds to rest between runs (thermal).")(f)


def _where_flag(use_adb: bool, ssh: tuple) -> None:
    from .errors import MliteError
    if use_adb == bool(ssh):
        raise MliteError("choose where to benchmark: --adb (phones) or --ssh USER@HOST (ARM boards)")


@main.command()
@_ssh_options
@_adb_server_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def devices(ssh, identity, ssh_config, adb_servers, as_json: bool) -> None:
    """List adb devices (model, SoC, ABI, Android, free space) or describe SSH boards (--ssh: CPU, cores,
    frequencies, memory, OS)."""
    from . import api
    rows = api.devices(ssh=list(ssh) or None, identity=identity, ssh_config=ssh_config,
                       adb_servers=list(adb_servers) or None)
    if as_json:
        _print_json(rows)
        return
    if ssh:
        for r in rows:
            if r.get("error"):
                click.echo(f"{r['serial']:<24} error: {r['error']}")
                continue
            freq = ("max " + "/".join(str(f) for f in sorted(set(r["max_freq_mhz"]))) + " MHz") \
                if r.get("max_freq_mhz") else "frequency ?"
            mem = f"{r['mem_bytes'] / 2**30:.1f} GiB" if r.get("mem_bytes") else "memory ?"
            free = f"{r['free_bytes'] / 1e9:.1f} GB free" if r.get("free_bytes") is not None else "free space ?"
            click.echo(f"{r['serial']:<24} {r.get('model') or '?'}  {r.get('soc') or '?'}  {r.get('machine')}  "
                       f"{r.get('cores') or '?'} cores  {freq}  {mem}  {r.get('os') or 'OS ?'}  {free}"
                       + _now(r) + ("  [emulated]" if r.get("emulated") else ""))
        return
    if not rows:
        click.echo("no adb devices (connect a phone with USB debugging on, or 'adb connect HOST:PORT')")
    on = (lambda r: f"  [server {r.get('adb_server') or 'default'}]") if adb_servers else (lambda r: "")
    for r in rows:
        if r["state"] != "device":
            click.echo(f"{r['serial']:<24} {r['state']}{on(r)}")
            continue
        free = f"{r['free_bytes'] / 1e9:.1f} GB free" if r.get("free_bytes") is not None else "free space ?"
        soc = r.get("soc_name") or r.get("soc") or "?"
        click.echo(f"{r['serial']:<24} device  {r.get('model') or '?'}  {soc} ({r.get('soc')})  {r.get('abi')}  "
                   f"Android {r.get('android')}  {free}{_now(r)}{on(r)}")


def _print_bench_rows(results) -> None:
    click.echo(f"{'device':<22} {'model':<30} {'backend':<11} {'thr':>3} {'avg ms':>9} {'min':>8} {'max':>8} "
               f"{'p50':>8} {'p90':>8} {'init':>8} {'MB':>7}")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for r in results:
        p = r.perf
        click.echo(f"{r.device.get('model') or r.device['serial']:<22.22} {r.model:<30.30} {r.backend:<11} "
                   f"{r.threads:>3} {p['avg_ms']:>9.2f} {p['min_ms']:>8.2f} {p['max_ms']:>8.2f} {fmt(p['p50_ms']):>8} "
                   f"{fmt(p['p90_ms']):>8} {fmt(p['init_ms']):>8} {r.storage_bytes / 1e6:>7.2f}"
                   + ("  THROTTLED: " + "; ".join(r.state["reasons"]) if r.state and r.state.get("throttled") else ""))


@main.command()
@click.option("--adb", "use_adb", is_flag=True, help="Benchmark on adb devices (phones).")
@_ssh_options
@click.option("--model-dir", required=True, type=click.Path(), help="Artifact directory with one .nb.")
@click.option("--serial", "serials", multiple=True, help="Device serial (repeatable) or 'all'; default ANDROID_SERIAL or the only device.")
@_adb_server_option
@click.option("--threads", default="1,2,4", show_default=True, help="Thread counts.")
@click.option("--warmup", default=10, show_default=True)
@click.option("--repeats", default=30, show_default=True)
@click.option("--power-mode", default=0, show_default=True, help="Paddle Lite power mode (0 = high performance).")
@click.option("--runner", type=click.Path(), help="benchmark_bin for the device (default: MLITE_RUNNER, cache, or mlite-runner on x86).")
@click.option("--backend", default="lite", show_default=True,
              help="lite (the .nb on Paddle Lite) | ncnn (the export's ncnn files; boards with python3 + ncnn).")
@click.option("--cpu-precision", default="fp32", show_default=True,
              help="fp32, or fp16: Paddle Lite's FP16 kernels on an FP32 .nb (runtime switch; results say which "
                   "precision really ran) or ncnn's FP16 arithmetic. armv8.2 CPUs only (checked first). A baked "
                   "FP16 .nb (export --precision fp16) needs no flag.")
@click.option("--remote-dir", help="Device directory (default /data/local/tmp/mlite).")
@_cooling_options
@click.option("--timeout", default=300.0, show_default=True, help="Seconds allowed per runner run.")
@click.option("--keep", is_flag=True, help="Leave the pushed files on the device.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def push(use_adb, ssh, identity, ssh_config, model_dir, serials, adb_servers, threads, warmup, repeats, power_mode, runner,
         backend, cpu_precision, remote_dir, cooldown, cooldown_until, cooldown_timeout, timeout, keep, as_json) -> None:
    """Push a .nb and the runner to phones (adb) or boards (ssh), benchmark at each thread count, collect."""
    from . import api
    from .errors import MliteError
    _where_flag(use_adb, ssh)
    runs = api.push(model_dir, serials=list(serials) or None, threads=_int_list(threads, "--threads"), warmup=warmup,
                    repeats=repeats, power_mode=power_mode, runner=runner, remote_dir=remote_dir, cooldown=cooldown,
                    timeout=timeout, keep=keep, progress=not as_json, ssh=list(ssh) or None, identity=identity,
                    ssh_config=ssh_config, backend=backend, cpu_precision=cpu_precision,
                    cooldown_until=cooldown_until, cooldown_timeout=cooldown_timeout,
                    adb_servers=list(adb_servers) or None)
    failed = [r for r in runs if r.error]
    if as_json:
        _print_json([r.to_dict() for r in runs])
        if failed:
            sys.exit(failed and 1)
        return
    ok = [res for r in runs for res in r.results]
    if ok:
        _print_bench_rows(ok)
        click.echo(f"results: {Path(model_dir) / 'bench'}")
    for r in runs:
        if r.note:
            click.echo(f"mlite: warning: {r.note}", err=True)
    if failed:
        if len(failed) == 1 and not ok:
            raise MliteError(failed[0].error)
        for r in failed:
            click.echo(f"mlite: error: {r.error}", err=True)
        sys.exit(1)


@main.command()
@click.option("--local", "use_local", is_flag=True, required=True, help="Benchmark on this host (required).")
@click.option("--model-dir", required=True, type=click.Path(), help="Artifact directory (x86 .nb and/or .onnx).")
@click.option("--backend", "backends", default="lite,onnxruntime", show_default=True, help="lite, onnxruntime.")
@click.option("--threads", default="1,2", show_default=True, help="Thread counts.")
@click.option("--warmup", default=10, show_default=True)
@click.option("--repeats", default=30, show_default=True, help="Timed runs per round.")
@click.option("--rounds", default=3, show_default=True,
              help="Runner processes per backend and thread count, interleaved across backends; their runs are pooled.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def bench(use_local, model_dir, backends, threads, warmup, repeats, rounds, as_json) -> None:
    """Run the benchmark_bin contract on this host: Paddle Lite x86 and ONNX Runtime side by side."""
    from . import api
    res = api.bench_local(model_dir, backends=_words(backends),
                          threads=_int_list(threads, "--threads"), warmup=warmup, repeats=repeats,
                          progress=not as_json, rounds=rounds)
    if as_json:
        _print_json(res.to_dict())
        return
    _print_bench_rows(res.results)
    for t, ratio in res.ratios.items():
        click.echo(f"threads={t}: Paddle Lite x86 / ONNX Runtime latency = {ratio:.2f}")
    drift = [f"{r.backend} t{r.threads} {r.perf['host_drift']:.0%}" for r in res.results
             if r.perf.get("host_drift") is not None]
    if drift:
        click.echo("host speed drift during each run (reference kernel, slowest / fastest block): " + ", ".join(drift))
    for w in res.warnings:
        click.echo(f"mlite: warning: {w}", err=True)


@main.command()
@click.option("--data", required=True, type=click.Path(), help="Labelled images: one sub-folder per class.")
@click.option("--val", type=click.Path(), help="Validation images (same class folders); default: --val-split of --data.")
@click.option("--val-split", default=0.2, show_default=True, help="Share of --data held out per class for validation.")
@click.option("--models", help="Comma-separated zoo names.")
@click.option("--family", help="All models of a family.")
@click.option("--preset", help="blog: the 11 models of the lightweight-network study (ShuffleNetV2, MobileNetV2, "
              "GhostNet at 3 widths, MobileNetV3 small/large).")
@click.option("--device", default="local", show_default=True, help="local | adb:SERIAL | ssh:USER@HOST[:PORT].")
@_ssh_key_options
@click.option("--epochs", default=5, show_default=True)
@click.option("--image-size", default=224, show_default=True, help="Square input size (fine-tune and export).")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="fp32, fp16, int8 or a list (fp32,fp16,int8); fp16 needs an ARM device with FP16 arithmetic.")
@click.option("--backends", default="lite", show_default=True, help="Runtimes on the device.")
@click.option("--threads", default="1,2,4", show_default=True)
@click.option("--warmup", default=10, show_default=True)
@click.option("--repeats", default=30, show_default=True)
@click.option("--lr", type=float, help="Fine-tune learning rate (momentum SGD, cosine decay); default 0.05, or 0.01 "
                                      "below 500 training images.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--weights", default="pretrained", show_default=True,
              help="pretrained (ImageNet backbone; from scratch when unavailable, recorded) | random (from scratch).")
@click.option("--out", default="mlite_study", show_default=True, type=click.Path())
@click.option("--format", "fmt", default="md", show_default=True, help="What to print: md | csv | json | html.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the study's JSON).")
@handle_errors
def study(data, val, val_split, models, family, preset, device, identity, ssh_config, epochs, image_size, precisions,
          backends, threads, warmup, repeats, lr, batch_size, weights, out, fmt, as_json) -> None:
    """Which mobile net is best on my data and my device: fine-tune each model, export (+INT8), measure top-1,
    FLOPs, parameters, memory, size, latency and training time; one table and an accuracy-vs-latency plot."""
    from . import api
    from .study_report import as_dict, render
    res = api.study(data, models=models, family=family, preset=preset, device=device, val=val, val_split=val_split,
                    epochs=epochs, image_size=image_size, precisions=_words(precisions), backends=_words(backends),
                    threads=_int_list(threads, "--threads"), warmup=warmup, repeats=repeats, lr=lr,
                    batch_size=batch_size, weights=weights, identity=identity, ssh_config=ssh_config, out=out,
                    progress=not as_json)
    failed = [r for r in res.rows if r.error]
    if as_json:
        _print_json(as_dict(res))
    else:
        click.echo(render(res, fmt), nl=False)
        click.echo(f"files: {', '.join(res.files.values())}")
        if res.split.get("skipped_unreadable"):
            click.echo(f"mlite: warning: {res.split['skipped_unreadable']} image file(s) of --data could not be "
                       "decoded and were left out (study.json lists the split)", err=True)
    if failed:
        click.echo(f"mlite: error: {len({r.model for r in failed})} of {len({r.model for r in res.rows})} model(s) "
                   "failed: " + ", ".join(sorted({r.model for r in failed})), err=True)
        sys.exit(1)


@main.command(name="run")
@click.option("--models", help="Comma-separated zoo names.")
@click.option("--family", help="All models of a family: MobileNetV1, MobileNetV2, MobileNetV3, ShuffleNetV2, GhostNet.")
@click.option("--all", "all_", is_flag=True, help="All 37 models.")
@click.option("--int8", is_flag=True, help="Also INT8 (PaddleSlim PTQ) for each model.")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              help="fp32, fp16, int8 or a list (fp32,fp16,int8); FP32 is always exported. fp16: a baked FP16 .nb "
                   "per model, for ARM devices with FP16 arithmetic (checked first); int8 is --int8.")
@click.option("--onnx", is_flag=True, help="Also ONNX (always on with --local).")
@click.option("--adb", "use_adb", is_flag=True, help="Benchmark on adb devices.")
@_ssh_options
@click.option("--local", "use_local", is_flag=True, help="Benchmark on this host.")
@click.option("--serial", "serials", multiple=True,
              help="adb serial(s), or 'all': devices of one SoC share the models, each SoC measures all.")
@_adb_server_option
@click.option("--threads", default="1,2,4", show_default=True)
@click.option("--warmup", default=10, show_default=True)
@click.option("--repeats", default=30, show_default=True)
@click.option("--weights", default="pretrained", show_default=True, help="pretrained | random (applies to every model).")
@click.option("--calib", type=click.Path(), help="Calibration images for --int8.")
@click.option("--runner", type=click.Path(), help="benchmark_bin for ARM phones.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds per runner run.")
@_cooling_options
@click.option("--jobs", type=int, help="Worker processes exporting and quantizing in parallel (default: cores).")
@click.option("--out", default="mlite_out", show_default=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def run_cmd(models, family, all_, int8, precisions, onnx, use_adb, ssh, identity, ssh_config, use_local, serials, adb_servers,
            threads, warmup,
            repeats, weights, calib, runner, timeout, cooldown, cooldown_until, cooldown_timeout, jobs, out,
            as_json) -> None:
    """Export (+INT8) and benchmark many models; resumable, continues past failures."""
    from . import api
    from .errors import MliteError
    if use_adb + bool(ssh) + use_local != 1:
        raise MliteError("choose where to benchmark: --adb (phones), --ssh USER@HOST (ARM boards) or --local (this host)")
    mode = "adb" if use_adb else "ssh" if ssh else "local"
    wanted = _precisions(precisions)
    outcomes = api.run(models=models, family=family, all_=all_, int8=int8 or "int8" in wanted, fp16="fp16" in wanted,
                       onnx=onnx, mode=mode,
                       serials=list(serials) or None, threads=_int_list(threads, "--threads"), warmup=warmup,
                       repeats=repeats, weights=weights, calib=calib, runner=runner, timeout=timeout, out=out,
                       progress=not as_json, ssh=list(ssh) or None, identity=identity, ssh_config=ssh_config,
                       cooldown=cooldown, cooldown_until=cooldown_until, cooldown_timeout=cooldown_timeout,
                       adb_servers=list(adb_servers) or None, jobs=(os.cpu_count() or 1) if jobs is None else jobs)
    failed = [o for o in outcomes if o.error]
    if as_json:
        _print_json([o.to_dict() for o in outcomes])
    else:
        for o in outcomes:
            state = f"FAILED: {o.error}" if o.error else f"{o.measured} run(s) measured, {o.reused} reused"
            click.echo(f"{o.model:<36} {state}")
            for a in o.attempts:
                if a["status"] == "lost":
                    then = f"rerun on {a['rerun_on']}" if a["rerun_on"] else "no device of its SoC left"
                    click.echo(f"  lost {a['device']} mid-run ({len(a['set_aside'])} partial result(s) set "
                               f"aside): {then}")
        import shlex
        click.echo(f"next: mlite report {shlex.quote(str(out))} --reference --plot "
                   f"{shlex.quote(str(Path(out) / 'report.png'))}")
    if failed:
        click.echo(f"mlite: error: {len(failed)} of {len(outcomes)} model(s) failed: "
                   + ", ".join(o.model for o in failed), err=True)
        sys.exit(1)


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--format", "fmt", default="md", show_default=True, help="md | csv | json | html.")
@click.option("--plot", type=click.Path(), help="Write the two figures (top-1 vs latency, vs storage) to FILE.png/.svg.")
@click.option("--reference", is_flag=True, help="PaddleClas's published SD855 numbers beside each cell, with ratios.")
@click.option("--threads", "plot_threads", default=1, show_default=True, help="Thread count plotted.")
@click.option("--by", default="device", show_default=True,
              help="device: one table per phone | soc: phones of one SoC and ABI pooled (a farm's results).")
@click.option("--output", "-o", type=click.Path(), help="Write the report to a file instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the JSON report; same as --format json).")
@handle_errors
def report(inputs, fmt, plot, reference, plot_threads, by, output, as_json) -> None:
    """Tables in the seed's shape from stored results (default: ./mlite_out), optional plots."""
    from . import api
    from .artifacts import refuse_artifact_target
    for path, flag in ((output, "--output"), (plot, "--plot")):
        if path:
            refuse_artifact_target(Path(path), flag)
    text = api.report(list(inputs) or ["mlite_out"], fmt="json" if as_json else fmt, reference=reference, plot=plot,
                      plot_threads=plot_threads, by=by)
    if output:
        from .artifacts import write_text_atomic
        write_text_atomic(Path(output), text)
        if as_json:
            _print_json({"report": str(output), "plot": plot})
        else:
            click.echo(f"report: {output}" + (f", plot: {plot}" if plot else ""))
    elif as_json:
        _print_json(json.loads(text))
    else:
        click.echo(text, nl=False)
        if plot:
            click.echo(f"plot: {plot}", err=True)


@main.command(name="package")
@click.option("--android", "android", is_flag=True, required=True, help="Package for the Android demo app.")
@click.option("--model-dir", required=True, type=click.Path(), help="Artifact directory with an ARM .nb.")
@click.option("--app", default="android_demo", show_default=True, type=click.Path(), help="The Android app folder.")
@click.option("--labels", type=click.Path(), help="Class names, one per line (default: ImageNet's 1000).")
@click.option("--threads", default=2, show_default=True, help="Threads the app uses.")
@click.option("--power-mode", default="LITE_POWER_HIGH", show_default=True, help="Paddle Lite power mode.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def package_cmd(android, model_dir, app, labels, threads, power_mode, as_json) -> None:
    """Copy the .nb, labels and matching preprocessing config into the Android app's assets."""
    from .package import package_android
    res = package_android(Path(model_dir), Path(app), Path(labels) if labels else None, threads, power_mode)
    if as_json:
        _print_json(res.to_dict())
        return
    for name, size in res.files.items():
        click.echo(f"  {str(Path(app) / 'app/src/main/assets' / name):<50} {size / 1e6:8.3f} MB")
    for note in res.notes:
        click.echo(f"note: {note}")
    click.echo(f"next: open {app} in Android Studio (see {Path(app) / 'README.md'}) and run it on the phone")


@main.command()
@click.option("--student", required=True, help="Zoo name of the mobile student.")
@click.option("--teacher", required=True, help="Zoo name (with --teacher-weights) or an 'mlite export' directory.")
@click.option("--data", required=True, type=click.Path(), help="Images; class sub-folders (or val_list.txt) give labels.")
@click.option("--unlabeled", type=click.Path(), help="Unlabelled images (the teacher labels them).")
@click.option("--val", type=click.Path(), help="Labelled held-out images: top-1 after every epoch.")
@click.option("--student-weights", default="pretrained", show_default=True, help="pretrained | random | PATH.")
@click.option("--teacher-weights", default="pretrained", show_default=True, help="pretrained | PATH (zoo teacher).")
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=64, show_default=True, help="Per process.")
@click.option("--lr", default=0.05, show_default=True)
@click.option("--image-size", default=224, show_default=True)
@click.option("--temperature", default=2.0, show_default=True)
@click.option("--loss", default="js", show_default=True, help="js | kl (divergence to the teacher's softmax).")
@click.option("--label-weight", default=0.0, show_default=True, help="Add cross-entropy on labelled images.")
@click.option("--min-confidence", default=0.0, show_default=True, help="Drop unlabelled images below this teacher confidence.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="mlite_out", show_default=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def distill(student, teacher, data, unlabeled, val, student_weights, teacher_weights, epochs, batch_size, lr,
            image_size, temperature, loss, label_weight, min_confidence, seed, out, as_json) -> None:
    """SSLD: distill a teacher's softmax (labelled + unlabelled images) into a mobile student."""
    from quant.ssld import DistillConfig, distill as run
    res = run(DistillConfig(student=student, teacher=teacher, data=Path(data),
                            unlabeled=Path(unlabeled) if unlabeled else None, val=Path(val) if val else None,
                            student_weights=student_weights, teacher_weights=teacher_weights, epochs=epochs,
                            batch_size=batch_size, lr=lr, image_size=image_size, temperature=temperature, loss=loss,
                            label_weight=label_weight, min_confidence=min_confidence, seed=seed, out=Path(out),
                            progress=not as_json))
    if not res.manifest:             # a non-zero rank of a data-parallel run: rank 0 reports
        return
    if as_json:
        _print_json(res.to_dict())
        return
    state = "up to date (cached)" if res.cached else "written"
    click.echo(f"{res.model}: {state} -> {res.weights}")
    for w in res.warnings:
        click.echo(f"  warning: {w}")
    for e in res.log:
        acc = f"  val top-1 {e['val_top1']:.2%}" if e.get("val_top1") is not None else ""
        click.echo(f"  epoch {e['epoch']:>3}  loss {e['loss']:.4f}{acc}")
    click.echo(f"next: {res.manifest['next']}")
