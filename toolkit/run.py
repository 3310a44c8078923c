"""`mlite run`: export (+INT8) and benchmark many models in one resumable command."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import zoo
from .devices.select import Where
from .errors import MliteError


@dataclass
class RunConfig:
    models: list[str]
    mode: str                        # adb | ssh | local
    int8: bool = False
    fp16: bool = False               # a baked FP16 .nb too (ARM devices whose CPUs have FP16 arithmetic)
    onnx: bool = False
    where: Where = field(default_factory=Where)
    threads: list[int] = field(default_factory=lambda: [1, 2, 4])
    warmup: int = 10
    repeats: int = 30
    weights: str = "pretrained"
    calib: Path | None = None
    runner: Path | None = None
    out: Path = Path("mlite_out")
    timeout: float = 300.0
    progress: bool = True
    cooldown: float = 0.0
    cooldown_until: float | None = None
    cooldown_timeout: float = 600.0
    jobs: int = 1                    # worker processes for exports and INT8 (device runs: one per device)


@dataclass
class ModelOutcome:
    model: str
    directories: list[str] = field(default_factory=list)
    measured: int = 0                # runs done now
    reused: int = 0                  # runs already stored with the same settings
    error: str | None = None
    attempts: list[dict] = field(default_factory=list)    # device runs: which device, ok / lost (rerun) / failed

    def to_dict(self) -> dict:
        return {"model": self.model, "directories": self.directories, "measured": self.measured,
                "reused": self.reused, "error": self.error, "attempts": self.attempts}


def select_models(models: str | None, family: str | None, all_: bool) -> list[str]:
    reg = zoo.registry()
    chosen = [bool(models), bool(family), all_]
    if sum(chosen) != 1:
        raise MliteError("choose the models with exactly one of --models A,B / --family NAME / --all")
    if all_:
        return list(reg)
    if family:
        if family not in zoo.FAMILIES:
            raise MliteError(f"unknown --family {family!r}: choose one of {', '.join(zoo.FAMILIES)}")
        return [n for n, s in reg.items() if s.family == family]
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise MliteError(f"--models {models!r} names no model: give zoo names separated by commas, e.g. "
                         "--models MobileNetV3_small_x1_0,ShuffleNetV2_x0_5 (mlite models lists them)")
    for n in names:
        zoo.get(n)                   # validates, suggests
    return list(dict.fromkeys(names))


def _target(cfg: RunConfig, infos) -> str:
    if cfg.mode == "local":
        return "x86"
    from .runners import is_arm
    abis = {i.abi for i in infos}
    if len({is_arm(a) for a in abis}) > 1:
        raise MliteError(f"devices mix ARM and x86 ABIs ({', '.join(sorted(map(str, abis)))}): run them separately")
    return "arm" if any(is_arm(a) for a in abis) else "x86"


def run(cfg: RunConfig) -> list[ModelOutcome]:
    """Export each model, then benchmark it: on this host, or spread over the devices of each SoC (a farm:
    device runs go on while later models export)."""
    from .progress import Steps
    devices = []
    if cfg.mode in ("adb", "ssh"):
        from .push import validate_settings
        validate_settings(_push_config(cfg, cfg.out))
        not_ready: list[str] = []
        devices = [(d, d.info()) for d in cfg.where.open(not_ready)]
        if not_ready and cfg.progress:
            import sys
            for why in not_ready:
                print(f"mlite: warning: {why}", file=sys.stderr)
    elif cfg.mode != "local":
        raise MliteError("choose where to benchmark: --adb (phones), --ssh USER@HOST (boards) or --local (this host)")
    target = _target(cfg, [i for _, i in devices])
    if cfg.int8 and target != "arm" and cfg.mode != "local":
        raise MliteError(f"--int8 with --{cfg.mode} needs ARM devices (INT8 .nb files are ARM-only); "
                         "use --local for INT8 on a host (ONNX Runtime)")
    if cfg.fp16:
        _check_fp16(cfg, target, devices)
    if cfg.int8 or any(zoo.get(n).int8 for n in cfg.models):
        from quant.ptq import check_calib
        check_calib(cfg.calib)
    onnx = cfg.onnx or cfg.mode == "local"        # the host compares Lite x86 with ONNX Runtime
    if not 1 <= cfg.jobs <= 64:
        raise MliteError(f"--jobs {cfg.jobs}: give 1 to 64 worker processes (e.g. the number of cores)")
    outcomes = {name: ModelOutcome(name) for name in cfg.models}
    farm = _farm(cfg, devices) if devices else None
    local = []                      # host benchmarks wait for the exports: they must not share the CPU
    with Steps("mlite run", len(cfg.models), show=cfg.progress) as steps:
        for name, dirs, error in _exports(cfg, target, onnx, steps):
            o = outcomes[name]
            o.error = error
            o.directories = [str(d) for d in dirs]
            for d in dirs:
                if farm is not None:
                    farm.submit((o, Path(d)))
                elif cfg.jobs > 1:
                    local.append((o, Path(d)))
                else:
                    _bench_local_safe(cfg, Path(d), o)
        for o, d in local:
            steps.describe(f"bench {d.name} (this host)")
            _bench_local_safe(cfg, d, o)
        if farm is not None:
            steps.describe("device runs")
            _collect(farm.close(), list(outcomes.values()))
    return list(outcomes.values())


def _check_fp16(cfg: RunConfig, target: str, devices) -> None:
    """FP16 runs on ARM devices with FP16 arithmetic only: say so before any export."""
    if target != "arm":
        where = "this host" if cfg.mode == "local" else "x86 devices"
        raise MliteError(f"--precision fp16 makes baked FP16 .nb files for ARMv8.2 CPUs, which {where} cannot run: "
                         "benchmark them with --adb or --ssh on an FP16 device (export --precision fp16 checks them "
                         "here under qemu)")
    from .push import fp16_check
    for dev, info in devices:
        fp16_check(dev, info, "--precision fp16")


def _bench_local_safe(cfg: RunConfig, model_dir: Path, o: ModelOutcome) -> None:
    try:
        _bench_local(cfg, model_dir, o)
    except MliteError as e:
        o.error = o.error or str(e)


def _exports(cfg: RunConfig, target: str, onnx: bool, steps):
    """(name, artifact directories, error) per model as each export (+INT8) finishes: in this process, or with
    ``cfg.jobs`` > 1 in worker processes (models sharing a base, like X and X_int8, stay in one worker)."""
    if cfg.jobs == 1 or len(cfg.models) == 1:
        for name in cfg.models:
            with steps.step(name):
                yield _export_or_error(cfg, name, target, onnx)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    groups: dict[str, list[str]] = {}
    for name in cfg.models:
        groups.setdefault(zoo.get(name).name.removesuffix("_int8"), []).append(name)
    ctx = multiprocessing.get_context("spawn")          # no forked Paddle state; workers import it once each
    from .procs import worker_init
    workers = min(cfg.jobs, len(groups))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init)
    try:
        futures = [pool.submit(_export_group, cfg, names, target, onnx)
                   for names in sorted(groups.values(), key=_work, reverse=True)]
        steps.describe(f"exporting {len(cfg.models)} model(s) in {workers} worker processes")
        for fut in as_completed(futures):
            for name, dirs, error in fut.result():
                steps.describe(f"exported {name}")
                steps.advance()
                yield name, dirs, error
    except BaseException:
        # stopped (a signal, a failure): the models not started are dropped, not exported first (the signal's
        # hook has already sent the workers SIGTERM: they clean their staging dirs and exit)
        pool.shutdown(wait=False, cancel_futures=True)
        from .artifacts import sweep_staging
        sweep_staging(cfg.out)            # what workers killed mid-export left (their own cleanup may not have run)
        raise
    pool.shutdown(wait=True)


def _work(names: list[str]) -> float:
    """A group's expected export time, for longest-first scheduling (the last models to start are the
    quick ones, so no worker idles long at the end): PaddleClas's FLOPs, unknown ones first."""
    flops = [zoo.get(n).reference.flops_g for n in names]
    return float("inf") if None in flops else sum(flops)


def _export_group(cfg: RunConfig, names: list[str], target: str, onnx: bool) -> list[tuple]:
    """A worker process's task: export these models one after the other."""
    return [_export_or_error(cfg, n, target, onnx) for n in names]


def _export_or_error(cfg: RunConfig, name: str, target: str, onnx: bool) -> tuple[str, list[Path], str | None]:
    try:
        return name, _export(cfg, name, target, onnx), None
    except MliteError as e:
        return name, [], str(e)


def _farm(cfg: RunConfig, devices):
    """Device runs in a farm: each item is (outcome, model directory)."""
    import threading
    from .artifacts import SUPERSEDED
    from .farm import RETIRES, Farm
    from .push import bench_device, find_model
    lock = threading.Lock()

    def work(dev, item, attempt) -> None:
        o, model_dir = item
        written: list[str] = []
        try:
            r = bench_device(dev, find_model(model_dir), _push_config(cfg, model_dir), model_dir / "bench",
                             written=written)
        except RETIRES:
            # a lost device's partial results leave the reports: the rerun measures the model whole
            aside = model_dir / "bench" / SUPERSEDED / "lost-device-runs"
            aside.mkdir(parents=True, exist_ok=True)
            for f in map(Path, written):
                f.replace(aside / f.name)
                attempt.set_aside.append(str(aside / f.name))
            raise
        attempt.measured, attempt.reused = len(r.results), len(r.skipped)
        with lock:
            o.measured += attempt.measured
            o.reused += attempt.reused

    def name(info) -> str:
        return info.serial + (f" (server {info.adb_server})" if info.adb_server else "")

    return Farm(devices, work, label=lambda item: str(item[1]), device_name=name)


def _collect(attempts, outcomes: list[ModelOutcome]) -> None:
    """Attach each device attempt to its model; a model fails with its first attempt that was not rerun."""
    by_dir = {d: o for o in outcomes for d in o.directories}
    for a in attempts:
        o = by_dir.get(a.item)
        if o is None:
            continue
        o.attempts.append(a.to_dict())
        if a.status == "failed" and o.error is None:
            o.error = a.error


def _export(cfg: RunConfig, name: str, target: str, onnx: bool) -> list[Path]:
    """Artifact directories to benchmark: FP32, then FP16 and INT8 when asked (INT8 also for an ``_int8`` zoo
    name)."""
    from .stages import Int8Options, export_model, quantize_model
    spec = zoo.get(name)
    int8 = Int8Options(calib=cfg.calib) if (cfg.int8 or spec.int8) else None
    base = spec.name.removesuffix("_int8")
    if target == "arm":
        res = export_model(base, weights=cfg.weights, target="arm", onnx=onnx, out=cfg.out, int8=int8, progress=False,
                           fp16=cfg.fp16)
        return [res.fp32.directory] + [r.directory for r in (res.fp16, res.int8) if r]
    # x86 devices and this host: FP32 as an x86 .nb; INT8 only as QDQ ONNX (Lite's x86 INT8 is wrong)
    res = export_model(base, weights=cfg.weights, target="x86", onnx=onnx, out=cfg.out, progress=False)
    dirs = [res.fp32.directory]
    if int8 is not None:
        dirs.append(quantize_model(res.fp32.directory, out=cfg.out, onnx=True, options=int8, progress=False).directory)
    return dirs


def _push_config(cfg: RunConfig, model_dir: Path):
    from .push import PushConfig
    return PushConfig(model_dir=model_dir, where=cfg.where, threads=cfg.threads, warmup=cfg.warmup,
                      repeats=cfg.repeats, runner=cfg.runner, timeout=cfg.timeout, progress=False, resume=True,
                      cooldown=cfg.cooldown, cooldown_until=cfg.cooldown_until, cooldown_timeout=cfg.cooldown_timeout)


def _bench_local(cfg: RunConfig, model_dir: Path, o: ModelOutcome) -> None:
    from .artifacts import read_verified
    from .local_bench import bench_local
    m = read_verified(model_dir)
    backends = ["onnxruntime"] if m and m.to_dict().get("precision") == "int8" else ["lite", "onnxruntime"]
    res = bench_local(model_dir, backends, cfg.threads, cfg.warmup, cfg.repeats, timeout=cfg.timeout,
                      progress=False, resume=True)
    o.measured += len(res.results)
    o.reused += len(res.skipped)
