"""Library API: one function per user-facing command, each returning a dataclass or plain data."""
from __future__ import annotations

from pathlib import Path

from .stages import ExportOutcome, Int8Options
from .stages import export_model as export, quantize_model as quantize

__all__ = ["ExportOutcome", "Int8Options", "export", "quantize"]     # the stages' entry points are the API's


def models() -> list[dict]:
    """The zoo with PaddleClas's published numbers."""
    from . import zoo
    return [spec.to_dict() for spec in zoo.registry().values()]


def evaluate(model_dir: Path | str, data: Path | str, labels: Path | str | None = None, limit: int | None = None,
             backend: str = "paddle", device: str | None = None, threads: int = 2, reuse: bool = False):
    """Top-1/top-5 on the host (INT8 via Paddle's executor or ONNX Runtime, never Lite x86), or with
    ``device`` (adb serial, ``adb:SERIAL`` or ``local``) of the ``.nb`` on the device's Paddle Lite runtime."""
    from quant.evaluate import evaluate as run
    return run(Path(model_dir), Path(data), Path(labels) if labels else None, limit, backend, device=device,
               threads=threads, reuse=reuse)


def _state_now(dev) -> dict:
    """Thermal and frequency state at listing time (unknown fields stay empty)."""
    from . import device_state
    st = device_state.read(dev)
    return {"hottest_c": st.hottest_c, "governors": sorted({c.governor for c in st.cpus if c.governor}),
            "throttled_cores": [c.cpu for c in st.cpus if c.allowed_mhz and c.max_mhz and c.allowed_mhz < c.max_mhz]}


def devices(ssh: list[str] | None = None, identity: Path | str | None = None,
            ssh_config: Path | str | None = None, adb_servers: list[str] | None = None) -> list[dict]:
    """Every adb device with its state and, when usable, model, SoC, ABI, Android version, free space; or,
    with ``ssh``, each board's CPU, cores, frequencies, memory and OS (an unreachable one: its error)."""
    from .devices import adb
    from .devices.errors import DeviceError
    rows = []
    if ssh:
        from .devices.select import Where
        for dev in Where.of(ssh=ssh, identity=identity, ssh_config=ssh_config).open():
            try:
                rows.append({"state": "device", **dev.info().to_dict(), "now": _state_now(dev)})
            except DeviceError as e:
                rows.append({"serial": dev.serial, "kind": "ssh", "state": "error", "error": str(e)})
        return rows
    for d in adb.list_all(adb_servers):
        row = {"serial": d.serial, "state": d.state, "adb_server": adb.server_name(d.server),
               **{k: d.attrs.get(k) for k in ("product", "transport_id")}}
        if d.state == "device":
            try:
                dev = adb.AdbDevice(d.serial, d.server)
                row.update(dev.info().to_dict())
                row["now"] = _state_now(dev)
            except DeviceError as e:
                row["error"] = str(e)
        rows.append(row)
    return rows


def push(model_dir: Path | str, serials: list[str] | None = None, threads: list[int] | None = None,
         warmup: int = 10, repeats: int = 30, power_mode: int = 0, runner: Path | str | None = None,
         remote_dir: str | None = None, cooldown: float = 0.0, timeout: float = 300.0, keep: bool = False,
         progress: bool = True, ssh: list[str] | None = None, identity: Path | str | None = None,
         ssh_config: Path | str | None = None, backend: str = "lite", cpu_precision: str = "fp32",
         cooldown_until: float | None = None, cooldown_timeout: float = 600.0, adb_servers: list[str] | None = None):
    """Benchmark a model on adb devices or SSH boards; returns one DeviceRun per device."""
    from .devices.select import Where
    from .push import PushConfig, push as run
    where = Where.of(serials, ssh, identity, ssh_config, adb_servers)
    return run(PushConfig(model_dir=Path(model_dir), where=where, threads=threads or [1, 2, 4], warmup=warmup,
                          repeats=repeats, power_mode=power_mode, runner=Path(runner) if runner else None,
                          remote_dir=remote_dir, cooldown=cooldown, timeout=timeout, keep=keep, progress=progress,
                          backend=backend, cpu_precision=cpu_precision, cooldown_until=cooldown_until,
                          cooldown_timeout=cooldown_timeout))


def bench_local(model_dir: Path | str, backends: list[str], threads: list[int], warmup: int = 10, repeats: int = 30,
                progress: bool = True, rounds: int = 1):
    """Host benchmark: Paddle Lite x86 and ONNX Runtime side by side (``rounds`` runner processes each)."""
    from .local_bench import bench_local as run
    return run(Path(model_dir), backends, threads, warmup, repeats, progress=progress, rounds=rounds)


def run(models: str | None = None, family: str | None = None, all_: bool = False, int8: bool = False,
        onnx: bool = False, mode: str = "local", serials: list[str] | None = None, threads: list[int] | None = None,
        warmup: int = 10, repeats: int = 30, weights: str = "pretrained", calib: Path | str | None = None,
        runner: Path | str | None = None, timeout: float = 300.0, out: Path | str = "mlite_out",
        progress: bool = True, ssh: list[str] | None = None, identity: Path | str | None = None,
        ssh_config: Path | str | None = None, cooldown: float = 0.0, cooldown_until: float | None = None,
        cooldown_timeout: float = 600.0, adb_servers: list[str] | None = None, jobs: int = 1, fp16: bool = False):
    """Export (+FP16, +INT8) and benchmark a list of models; one ModelOutcome each. Devices of one SoC share the
    models (``serials=['all']`` over several adb servers is a farm); each SoC measures every model.
    ``jobs`` worker processes export and quantize in parallel (same bytes as one)."""
    from .devices.select import Where
    from .run import RunConfig, run as go, select_models
    names = select_models(models, family, all_)
    where = Where.of(serials, ssh, identity, ssh_config, adb_servers)
    return go(RunConfig(models=names, mode=mode, int8=int8, fp16=fp16, onnx=onnx, where=where, threads=threads or [1, 2, 4],
                        warmup=warmup, repeats=repeats, weights=weights, calib=Path(calib) if calib else None,
                        runner=Path(runner) if runner else None, out=Path(out), timeout=timeout, progress=progress,
                        cooldown=cooldown, cooldown_until=cooldown_until, cooldown_timeout=cooldown_timeout,
                        jobs=jobs))


def report(inputs: list[Path | str], fmt: str = "md", reference: bool = False, plot: Path | str | None = None,
           plot_threads: int = 1, by: str = "device") -> str:
    """Render stored results as md/csv/json/html; write the plot when asked (HTML embeds it)."""
    from . import plots, report as rep_mod
    if fmt not in rep_mod.FORMATS:
        from .errors import MliteError
        raise MliteError(f"unknown --format {fmt!r}: choose one of {', '.join(rep_mod.FORMATS)}")
    rep = rep_mod.build([Path(p) for p in inputs], reference=reference, by=by)
    if plot:
        plots.save(rep.tables, Path(plot), plot_threads)
    png = plots.figure(rep.tables, plot_threads) if fmt == "html" else None
    return rep_mod.render(rep, fmt, png)


def study(data: Path | str, models: str | None = None, family: str | None = None, preset: str | None = None,
          device: str = "local", val: Path | str | None = None, val_split: float = 0.2, epochs: int = 5,
          image_size: int = 224, precisions: list[str] | None = None, backends: list[str] | None = None,
          threads: list[int] | None = None, warmup: int = 10, repeats: int = 30, lr: float | None = None,
          batch_size: int = 32, seed: int = 0, weights: str = "pretrained", identity: Path | str | None = None,
          ssh_config: Path | str | None = None, out: Path | str = "mlite_study", progress: bool = True):
    """Fine-tune, export, quantize and measure several models on the user's data and device; writes
    OUT/study.{md,csv,json,html,png} and returns the StudyResult."""
    from .study import StudyConfig, select, study as run
    from .study_report import write_all
    cfg = StudyConfig(data=Path(data), models=select(models, family, preset), device=device,
                      val=Path(val) if val else None, val_split=val_split, epochs=epochs, image_size=image_size,
                      precisions=["fp32"] if precisions is None else precisions,
                      backends=["lite"] if backends is None else backends, threads=threads or [1, 2, 4],
                      warmup=warmup, repeats=repeats, lr=lr, batch_size=batch_size, seed=seed, weights=weights,
                      identity=Path(identity) if identity else None, ssh_config=Path(ssh_config) if ssh_config else None,
                      out=Path(out), progress=progress)
    res = run(cfg)
    res.files = write_all(res, cfg.out)
    return res
