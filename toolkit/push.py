"""`mlite push --adb | --ssh`: put a model and the runner on phones or boards, run, collect."""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import device_exec, device_state, runners
from .artifacts import (ensure_writable_dir, model_sha, precision_label, read_verified, sha256_file,
                        write_text_atomic)
from .bench import BenchResult, RunnerError, RunnerSettings, result_key, stored_keys
from .devices.base import Device, DeviceInfo
from .devices.select import Where
from .runners import RunnerMeta
from .errors import MliteError

_SAFE_REMOTE = re.compile(r"^/[A-Za-z0-9._/+-]+$")


@dataclass
class PushConfig:
    model_dir: Path
    where: Where = field(default_factory=Where)
    threads: list[int] = field(default_factory=lambda: [1, 2, 4])
    warmup: int = 10
    repeats: int = 30
    power_mode: int = 0
    runner: Path | None = None
    remote_dir: str | None = None
    cooldown: float = 0.0
    cooldown_until: float | None = None   # °C: before each run, wait for the hottest zone to cool to this
    cooldown_timeout: float = 600.0       # ... for at most this many seconds (then run, flagged)
    timeout: float = 300.0
    keep: bool = False
    progress: bool = True
    resume: bool = False          # skip thread counts whose identical result is already stored
    backend: str = "lite"         # lite (the .nb on Paddle Lite) | ncnn (the export's ncnn files, boards' python3)
    cpu_precision: str = "fp32"   # ncnn: fp16 turns on its FP16 storage and arithmetic (armv8.2 cores)


@dataclass
class DeviceRun:
    device: DeviceInfo
    results: list[BenchResult] = field(default_factory=list)
    error: str | None = None
    files: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)      # thread counts already measured (resume)
    note: str | None = None                               # --serial all: why this listed device was not used

    def to_dict(self) -> dict:
        return {"device": self.device.to_dict(), "results": [r.to_dict() for r in self.results],
                "error": self.error, "result_files": self.files, "skipped_threads": self.skipped,
                "not_measured": self.note}


@dataclass
class Model:
    name: str
    nb: Path
    target: str | None
    precision: str
    weights: str
    input_shape: tuple[int, ...]
    sha256: str


def find_model(model_dir: Path) -> Model:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise MliteError(f"--model-dir {str(model_dir)!r} is not a directory; pass the folder 'mlite export' wrote")
    nbs = sorted(model_dir.glob("*.nb"))
    if not nbs:
        raise MliteError(f"{str(model_dir)!r} has no .nb model: run 'mlite export --model NAME' first "
                         "(it writes OUT/NAME/NAME.nb)")
    if len(nbs) > 1:
        raise MliteError(f"{str(model_dir)!r} holds {len(nbs)} .nb files; keep one per model directory")
    m = read_verified(model_dir)
    md = m.to_dict() if m else {}
    art = next((a for a in m.artifacts if a.path == nbs[0].name), None) if m else None
    sha = art.sha256 if art is not None and art.sha256 else sha256_file(nbs[0])
    return Model(name=md.get("model", nbs[0].stem), nb=nbs[0], target=art.target if art else None,
                 precision=precision_label(md, "unknown"),
                 weights=md.get("weights", {}).get("label", "unknown weights"),
                 input_shape=tuple(md.get("input_shape", (1, 3, 224, 224))), sha256=sha)


def validate_settings(cfg: PushConfig) -> None:
    cfg.where.validate()
    if cfg.backend not in ("lite", "ncnn"):
        raise MliteError(f"--backend {cfg.backend!r}: choose lite (Paddle Lite .nb) or ncnn (the export's ncnn files)")
    if cfg.cpu_precision not in ("fp32", "fp16"):
        raise MliteError(f"--cpu-precision {cfg.cpu_precision}: fp32 or fp16 (Paddle Lite's FP16 kernels on an FP32 .nb, "
                         "or ncnn's FP16 arithmetic)")
    if not cfg.threads or any(t < 1 or t > 64 for t in cfg.threads):
        raise MliteError(f"--threads {cfg.threads}: give thread counts between 1 and 64, e.g. --threads 1,2,4")
    if cfg.warmup < 0 or cfg.repeats < 1:
        raise MliteError("--warmup must be >= 0 and --repeats >= 1")
    if not 0 <= cfg.power_mode <= 5:
        raise MliteError(f"--power-mode {cfg.power_mode}: Paddle Lite's power modes are 0 HIGH (big cores), 1 LOW "
                         "(little cores), 2 FULL, 3 NO_BIND, 4 RAND_HIGH, 5 RAND_LOW")
    if cfg.timeout <= 0 or cfg.cooldown < 0:
        raise MliteError("--timeout must be > 0 and --cooldown >= 0 seconds")
    if cfg.cooldown_until is not None and not (0 < cfg.cooldown_until < 120) or cfg.cooldown_timeout <= 0:
        raise MliteError(f"--cooldown-until {cfg.cooldown_until} °C: give a temperature between 0 and 120 (e.g. 40) "
                         "and a --cooldown-timeout > 0 seconds")
    if cfg.remote_dir is not None and (not _SAFE_REMOTE.match(cfg.remote_dir) or ".." in cfg.remote_dir.split("/")):
        raise MliteError(f"--remote-dir {cfg.remote_dir!r} must be an absolute path of letters, digits and ._+-/ "
                         "without '..' (e.g. /data/local/tmp/mlite)")


def default_runner(info: DeviceInfo) -> Path:
    """The runner for a device: MLITE_RUNNER, a cached benchmark_bin, our static ARM runner, or mlite-runner."""
    return runners.for_device(info.abi)


def check_target(model: Model, info: DeviceInfo) -> None:
    if model.target is None or info.abi is None:
        return
    is_arm = runners.is_arm(info.abi)
    if model.target == "arm" and not is_arm:
        raise MliteError(f"{model.nb.name} is built for arm but device {info.serial} is {info.abi}: "
                         "export with --target x86 for this device")
    if model.target == "x86" and is_arm:
        raise MliteError(f"{model.nb.name} is built for x86 but device {info.serial} is {info.abi}: "
                         "export with --target arm (the default)")


@dataclass
class NcnnModel:
    name: str
    param: Path
    bin: Path
    precision: str
    weights: str
    input_shape: tuple[int, ...]
    sha256: str                   # of both files


def find_ncnn(model_dir: Path) -> NcnnModel:
    """The ncnn files of an export made with --ncnn (checked against the manifest)."""
    model_dir = Path(model_dir)
    m = read_verified(model_dir)
    md = m.to_dict() if m else {}
    art = next((a for a in m.artifacts if a.format == "ncnn-param"), None) if m else None
    if art is None:
        raise MliteError(f"{str(model_dir)!r} has no ncnn model: export it with --ncnn (FP32 only: ncnn's INT8 "
                         "needs its own calibration tools)")
    param = model_dir / art.path
    return NcnnModel(name=md["model"], param=param, bin=param.with_suffix(".bin"), precision=precision_label(md),
                     weights=md.get("weights", {}).get("label", "unknown weights"),
                     input_shape=tuple(md.get("input_shape", (1, 3, 224, 224))), sha256=model_sha(param))


@dataclass
class RunPlan:
    """What differs between a Paddle Lite and an ncnn run on a device; the thread loop is shared."""

    launch: str | list[str]           # the runner binary, or python3 + our runner script
    remote_model: str
    runner_backend: str               # the runner's --backend
    label: str                        # BenchResult.backend (and the result key's)
    model_file: str
    storage: int
    runner_path: Path
    runner_sha: str
    cpu_precision: str = "fp32"
    meta: RunnerMeta = field(default_factory=RunnerMeta)     # from probing the runner (Lite)
    engine: str | None = None                                  # the device's ncnn package (ncnn)
    cpu_fp16: dict | None = None                               # the device's FP16 check (FP16 work)

    def runner_info(self, rmeta: RunnerMeta) -> dict:
        info = {"path": str(self.runner_path), "sha256": self.runner_sha,
                "version": rmeta.name or self.meta.name or rmeta.lite_version}
        if self.engine:
            return info | {"engine": self.engine}
        return info | {"lite_version": rmeta.lite_version or self.meta.lite_version, "cpu": rmeta.cpu,
                       "cpu_precision_requested": self.cpu_precision, "cpu_precision_ran": rmeta.cpu_precision,
                       "precision_evidence": rmeta.precision_evidence, "cpu_fp16": self.cpu_fp16}


class NoFp16(MliteError):
    """FP16 work for a device whose CPU has no ARMv8.2 FP16 arithmetic (or cannot tell)."""


def fp16_check(dev: Device, info: DeviceInfo, why: str) -> dict:
    """Refuse FP16 work (``why``) on a CPU without FP16 arithmetic, before anything is copied."""
    from .devices import cpu
    if not runners.is_arm(info.abi) or info.abi not in runners.ARM64_ABIS:
        raise NoFp16(f"{why} needs an arm64 CPU with ARMv8.2 FP16 arithmetic; device {info.serial} is {info.abi}: "
                     "benchmark the FP32 or INT8 .nb there")
    found = cpu.read(dev)
    if found.fp16 is not True:
        said = ("has no FP16 arithmetic" if found.fp16 is False else "does not show whether it has FP16 arithmetic")
        raise NoFp16(f"device {info.serial} ({found.cpu}) {said} ({found.how}); {why} runs Paddle Lite's ARMv8.2 FP16 "
                     "kernels, which are SIGILL on ARMv8.0 cores such as Cortex-A53/A72: benchmark the FP32 or INT8 "
                     ".nb on it")
    return found.to_dict()


def _lite_runner(cfg: PushConfig, info: DeviceInfo, fp16: bool) -> Path:
    if cfg.runner:
        return Path(cfg.runner)
    if not fp16:
        return default_runner(info)
    found = runners.arm_fp16_runner()
    if found is None:
        raise runners.RunnerMissing(f"no FP16 ARM runner ({runners.ARM_FP16_RUNNER}): run 'make arm-runner' in the "
                                    "mlite checkout (it links ../shared/arm-fp16) or set MLITE_ARM_FP16_RUNNER")
    return found


def _lite_plan(dev: Device, ws, model: Model, cfg: PushConfig, info: DeviceInfo) -> RunPlan:
    if cfg.cpu_precision == "fp16" and model.precision not in ("fp32", "fp16"):
        raise MliteError(f"--cpu-precision fp16 switches an FP32 .nb to Paddle Lite's FP16 kernels; {model.nb.name} is "
                         f"{model.precision.upper()}: push it without the flag, or push the FP32 model with it")
    fp16 = model.precision == "fp16" or cfg.cpu_precision == "fp16"
    cpu_fp16 = None
    if fp16:
        why = (f"{model.nb.name} (a baked FP16 .nb)" if model.precision == "fp16"
               else "--cpu-precision fp16")
        cpu_fp16 = fp16_check(dev, info, why)
    runner = _lite_runner(cfg, info, fp16)
    if not runner.is_file():
        raise RunnerError(f"runner {str(runner)!r} does not exist; pass --runner PATH to benchmark_bin")
    runner_sha = sha256_file(runner)
    if info.free_bytes is not None and info.free_bytes < model.nb.stat().st_size:
        from .devices import NoSpace
        raise NoSpace(f"device {info.serial} has {info.free_bytes / 1e6:.1f} MB free in {ws.remote_dir}, "
                      f"the model needs {model.nb.stat().st_size / 1e6:.1f} MB; free space or use --remote-dir")
    remote_runner = ws.put(runner, runners.remote_name(runner), runner_sha, "755")
    meta = device_exec.probe(dev, remote_runner, cfg.timeout)
    runners.check_versions(model.nb, meta, f"device {info.serial}")
    remote_model = ws.put(model.nb, model.name + ".nb", model.sha256)
    backend = "arm" if runners.is_arm(info.abi) else "x86"
    label = backend + ("-fp16" if cfg.cpu_precision == "fp16" else "")
    return RunPlan(launch=remote_runner, remote_model=remote_model, runner_backend=backend, label=label,
                   model_file=model.nb.name, storage=dev.size(remote_model) or 0, runner_path=runner,
                   runner_sha=runner_sha, cpu_precision=cfg.cpu_precision, meta=meta, cpu_fp16=cpu_fp16)


def ncnn_plan(dev: Device, ws, model: NcnnModel, info: DeviceInfo, cpu_precision: str = "fp32") -> RunPlan:
    """ncnn on a device: our runner script, run by the device's python3 with its ncnn package."""
    from . import runner as runner_mod
    from .devices import DeviceError
    check = dev.shell(["python3", "-c", "import ncnn, numpy; print('ncnn', ncnn.__version__)"], timeout=120)
    if check.code != 0:
        hint = ("phones have no python3: ncnn runs on boards (--ssh) and on this host (mlite bench --local)"
                if dev.kind == "adb" else "install them on the board: pip3 install numpy ncnn")
        raise DeviceError(f"--backend ncnn needs python3 with numpy and ncnn on {info.serial} "
                          f"({check.output.strip().splitlines()[-1] if check.output.strip() else 'no python3'}): {hint}")
    script = Path(runner_mod.__file__)
    sha = sha256_file(script)
    launch = ["python3", ws.put(script, "mlite-runner.py", sha)]
    remote = ws.put(model.param, model.name + ".ncnn.param")
    remote_bin = ws.put(model.bin, model.name + ".ncnn.bin")
    storage = (dev.size(remote) or 0) + (dev.size(remote_bin) or 0)
    label = "ncnn" if cpu_precision == "fp32" else "ncnn-fp16"
    return RunPlan(launch=launch, remote_model=remote, runner_backend="ncnn", label=label, model_file=model.param.name,
                   storage=storage, runner_path=script, runner_sha=sha, cpu_precision=cpu_precision,
                   engine=check.output.strip())


def bench_device(dev: Device, model, cfg: PushConfig, out_dir: Path, on_run=None,
                 written: list[str] | None = None) -> DeviceRun:
    """Benchmark one model (a Model: Paddle Lite; an NcnnModel: ncnn) on one device, one thread count at a time;
    each stored result's path is also appended to ``written`` (what is on disk if the device is lost)."""
    from .devices.lock import device_lock
    info = dev.info()
    run = DeviceRun(info)
    if isinstance(model, Model):
        check_target(model, info)
    remote_dir = cfg.remote_dir or dev.default_remote_dir
    with device_lock(info), device_exec.Workspace(dev, remote_dir, keep=cfg.keep) as ws:
        plan = (ncnn_plan(dev, ws, model, info, cfg.cpu_precision) if isinstance(model, NcnnModel)
                else _lite_plan(dev, ws, model, cfg, info))
        done = stored_keys(out_dir) if cfg.resume else set()
        ran = 0
        cache_note = None
        last = None              # the state read just after the previous run: the next one starts in it
        for threads in cfg.threads:
            key = result_key(model.sha256, info.serial, plan.label, threads, cfg.warmup, cfg.repeats, cfg.power_mode,
                             plan.runner_sha)
            if key in done:
                run.skipped.append(threads)
                if on_run:
                    on_run()
                continue
            if ran and cfg.cooldown:
                time.sleep(cfg.cooldown)
                last = None
            cooling = None
            if cfg.cooldown_until is not None:
                cooling, last = device_state.cool_down(dev, cfg.cooldown_until, cfg.cooldown_timeout)
            if not ran:                  # the first process loads the model cold, if the device lets us drop caches
                cache_note = device_state.drop_caches(dev)
            ran += 1
            rs = RunnerSettings(model_file=plan.remote_model, input_shape=model.input_shape,
                                backend=plan.runner_backend, threads=threads, warmup=cfg.warmup, repeats=cfg.repeats,
                                power_mode=cfg.power_mode, cpu_precision=plan.cpu_precision)
            before = last or device_state.read(dev)
            perf, rmeta = device_exec.run(dev, plan.launch, rs, cfg.timeout)
            after = last = device_state.read(dev)
            cold = ran == 1 and cache_note is None
            res = BenchResult(
                device=info.to_dict(), model=model.name, model_file=plan.model_file,
                precision=ran_precision(model.precision, plan, rmeta),
                weights=model.weights, backend=plan.label, threads=threads, warmup=cfg.warmup, repeats=cfg.repeats,
                power_mode=cfg.power_mode, perf=perf.to_dict(), storage_bytes=plan.storage,
                runner=plan.runner_info(rmeta), timestamp=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                settings={"input_shape": list(model.input_shape), "remote_dir": remote_dir,
                          "cooldown_s": cfg.cooldown, "cooldown_until_c": cfg.cooldown_until,
                          "model_sha256": model.sha256}, key=key,
                emulated=bool(info.emulated or rmeta.emulated),
                state=run_state(before, after, cfg.power_mode, cooling),
                load={"init_ms": perf.init_ms, "cache": "cold" if cold else "warm",
                      "note": None if cold else (cache_note if ran == 1 else "model loaded before by this run")})
            run.results.append(res)
            run.files.append(str(_store(out_dir, res)))
            if written is not None:
                written.append(run.files[-1])
            if on_run:
                on_run()
    return run


def ran_precision(precision: str, plan: RunPlan, rmeta: RunnerMeta) -> str:
    """The precision a result is filed under: what the runner says ran. A baked FP16 .nb or a runtime switch
    that Paddle Lite really made is fp16; a switch it silently declined stays the model's own (fp32)."""
    if plan.runner_backend == "ncnn":
        return precision
    if rmeta.cpu_precision == "fp16":
        return "fp16"
    if precision == "fp16":          # a baked FP16 .nb whose runner did not say FP16 ran: never filed as FP16
        raise RunnerError(f"the runner did not report FP16 kernels for {plan.model_file} "
                          f"({rmeta.precision_evidence or 'no precision line'}); use mlite's FP16 runner")
    return precision


def run_state(before: device_state.DeviceState, after: device_state.DeviceState, power_mode: int,
              cooling: device_state.Cooling | None = None) -> dict:
    """A result's device state: before/after, the cores its power mode allows, cooling, and why it is throttled."""
    why = device_state.throttled(before, after)
    if cooling is not None and cooling.reached is False:
        why.insert(0, f"started at {cooling.end_c:.1f} °C, above --cooldown-until {cooling.target_c:g} "
                      f"(gave up after {cooling.waited_s:.0f} s)")
    return {"before": before.to_dict(), "after": after.to_dict(), "cores": device_state.cores_for(power_mode, before),
            "cooling": cooling.to_dict() if cooling else None, "throttled": bool(why), "reasons": why}


def _store(out_dir: Path, res: BenchResult) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    serial = re.sub(r"[^A-Za-z0-9_.-]", "_", res.device["serial"])
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = out_dir / f"{serial}__{res.model}__{res.backend}__t{res.threads}__{stamp}.json"
    write_text_atomic(path, json.dumps(res.to_dict(), indent=2) + "\n")
    return path


def push(cfg: PushConfig) -> list[DeviceRun]:
    """Benchmark ``cfg.model_dir`` on the selected devices (in parallel, one model at a time each)."""
    from .progress import Steps
    validate_settings(cfg)
    model = find_ncnn(cfg.model_dir) if cfg.backend == "ncnn" else find_model(cfg.model_dir)
    # results are the product: a directory that cannot hold them fails now, not after the runs
    out_dir = ensure_writable_dir(Path(cfg.model_dir) / "bench", "--model-dir")
    not_ready: list[str] = []
    devices = cfg.where.open(not_ready)
    total = len(devices) * len(cfg.threads)
    with Steps(f"bench {model.name}", total, show=cfg.progress) as steps:
        def one(dev):
            try:
                return bench_device(dev, model, cfg, out_dir, on_run=steps.advance)
            except MliteError as e:
                return DeviceRun(DeviceInfo(serial=dev.serial, kind=dev.kind), error=str(e))
        with ThreadPoolExecutor(max_workers=len(devices)) as pool:
            runs = list(pool.map(one, devices))
    for why in not_ready:
        runs.append(DeviceRun(DeviceInfo(serial=why.split()[1], kind="adb"), note=why))
    return runs
