"""The runner contract (Paddle Lite's benchmark_bin flags and output), the output parser, and results."""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, asdict, field

from .errors import MliteError


class RunnerError(MliteError):
    """The benchmark runner crashed, timed out, or printed something we cannot read."""


@dataclass
class RunnerSettings:
    """benchmark_bin's flags (lite/api/tools/benchmark); PaddleClas used warmup 10, repeats 30."""

    model_file: str
    input_shape: tuple[int, ...] = (1, 3, 224, 224)
    backend: str = "arm"
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    power_mode: int = 0
    cpu_precision: str = "fp32"
    speed_ref: bool = False      # mlite-runner only (benchmark_bin has no such flag)

    def argv(self) -> list[str]:
        return (["--speed_ref=1"] if self.speed_ref else []) + [f"--optimized_model_file={self.model_file}",
                f"--input_shape={','.join(map(str, self.input_shape))}", f"--backend={self.backend}",
                f"--threads={self.threads}", f"--warmup={self.warmup}", f"--repeats={self.repeats}",
                f"--power_mode={self.power_mode}", f"--cpu_precision={self.cpu_precision}"]


@dataclass
class Perf:
    avg_ms: float
    min_ms: float
    max_ms: float
    init_ms: float | None = None
    first_ms: float | None = None
    raw_ms: list[float] | None = None
    format: str = "perf-info"
    ref_ms: list[float] | None = None     # mlite-runner --speed_ref: reference kernel after each run
    memory_mb: dict | None = None         # the "Memory Usage(unit: MB)" block, e.g. {"init": .., "peak": ..}

    @property
    def host_drift(self) -> float | None:
        """How far the host's speed moved during the run: the reference kernel's median in up to 10
        consecutive blocks of runs, slowest block over fastest, minus 1 (per-run jitter averages out)."""
        ref = self.ref_ms or []
        blocks = min(10, len(ref) // 5)
        if blocks < 2:
            return None
        size = len(ref) / blocks
        medians = [statistics.median(ref[int(i * size):int((i + 1) * size)]) for i in range(blocks)]
        return round(max(medians) / min(medians) - 1, 4)

    @property
    def ref_units_p50(self) -> float | None:
        """Median of (model time / reference time): latency in host-speed-independent units."""
        if not self.ref_ms or not self.raw_ms or len(self.ref_ms) != len(self.raw_ms):
            return None
        return round(statistics.median(m / r for m, r in zip(self.raw_ms, self.ref_ms) if r > 0), 3)

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.raw_ms) if self.raw_ms else None

    @property
    def p90_ms(self) -> float | None:
        if not self.raw_ms:
            return None
        return _pct(sorted(self.raw_ms), 0.9)

    @property
    def std_ms(self) -> float | None:
        return statistics.pstdev(self.raw_ms) if self.raw_ms and len(self.raw_ms) > 1 else None

    def validate(self) -> "Perf":
        """This Perf, or RunnerError naming the first impossible number (negative, NaN, inf, min > avg...)."""
        problem = timing_problem(asdict(self))
        if problem:
            raise RunnerError(f"runner reported an impossible time: {problem}; the runner or device misbehaved, "
                              "rerun the benchmark (or check --runner)")
        return self

    def to_dict(self) -> dict:
        return asdict(self) | {"p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "std_ms": self.std_ms,
                               "host_drift": self.host_drift, "ref_units_p50": self.ref_units_p50}

    @classmethod
    def pooled(cls, rounds: list["Perf"]) -> "Perf":
        """One Perf from several runner processes: every timed run pooled, init/first as medians."""
        raw = [t for p in rounds for t in (p.raw_ms or [])]
        ref = [t for p in rounds for t in (p.ref_ms or [])]
        med = lambda vals: statistics.median(vals) if vals else None  # noqa: E731
        if not raw:
            n = len(rounds)
            return cls(sum(p.avg_ms for p in rounds) / n, min(p.min_ms for p in rounds),
                       max(p.max_ms for p in rounds), med([p.init_ms for p in rounds if p.init_ms is not None]),
                       med([p.first_ms for p in rounds if p.first_ms is not None]), format=rounds[0].format)
        mems = [p.memory_mb for p in rounds if p.memory_mb]
        memory = {k: max(m[k] for m in mems if k in m) for k in {k for m in mems for k in m}} if mems else None
        return cls(sum(raw) / len(raw), min(raw), max(raw),
                   med([p.init_ms for p in rounds if p.init_ms is not None]),
                   med([p.first_ms for p in rounds if p.first_ms is not None]), raw, rounds[0].format,
                   ref if len(ref) == len(raw) else None, memory)


TIMES = ("avg_ms", "min_ms", "max_ms")
OPTIONAL_TIMES = ("init_ms", "first_ms", "p50_ms", "p90_ms", "std_ms", "host_drift", "ref_units_p50")
SLACK = 1e-6           # relative: float rounding in min <= avg <= max


def _show(value, width: int = 60) -> str:
    """``repr(value)``, cut to one short line for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def number_problem(name: str, value, integer: bool = False, minimum: float = 0) -> str | None:
    """Why ``value`` is not a finite number >= ``minimum`` (an int when ``integer``), or None."""
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"{name} = {_show(value)} is not {'an integer' if integer else 'a number'}"
    if not math.isfinite(value):
        return f"{name} = {_show(value)} is not finite"
    if value < minimum:
        return f"{name} = {_show(value)} is {'negative' if minimum == 0 else f'below {minimum:g}'}"
    return None


def _list_problem(name: str, values) -> str | None:
    if not isinstance(values, list):
        return f"{name} = {_show(values)} is not a list of numbers"
    return next((p for i, v in enumerate(values) if (p := number_problem(f"{name}[{i}]", v))), None)


def _memory_problem(memory) -> str | None:
    if not isinstance(memory, dict):
        return f"memory_mb = {_show(memory)} is not a mapping of numbers"
    return next((p for k, v in memory.items() if (p := number_problem(f"memory_mb.{k}", v))), None)


def timing_problem(perf: dict) -> str | None:
    """What is wrong with a Perf's numbers (a Perf as a dict, fresh or stored), or None: every time and
    memory value finite and >= 0, and min <= avg <= max."""
    for name in TIMES:
        problem = number_problem(name, perf.get(name)) if name in perf else f"{name} is missing"
        if problem:
            return problem
    for name in OPTIONAL_TIMES:
        if perf.get(name) is not None and (problem := number_problem(name, perf[name])):
            return problem
    for name in ("raw_ms", "ref_ms"):
        if perf.get(name) is not None and (problem := _list_problem(name, perf[name])):
            return problem
    if perf.get("memory_mb") is not None and (problem := _memory_problem(perf["memory_mb"])):
        return problem
    lo, avg, hi = perf["min_ms"], perf["avg_ms"], perf["max_ms"]
    slack = SLACK * max(1.0, hi)
    if not lo - slack <= avg <= hi + slack:
        return f"min_ms = {_show(lo)}, avg_ms = {_show(avg)}, max_ms = {_show(hi)} break min <= avg <= max"
    return None


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


_NUM = r"([-+]?(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|inf(?:inity)?))"   # nan/inf: caught by validate
_KV = re.compile(r"^\s*(\w+)\s*=\s*(.+?)\s*$")
_OLD = re.compile(rf"min\s*=\s*{_NUM}\s*(?:ms)?\s*,?\s*max\s*=\s*{_NUM}\s*(?:ms)?\s*,?\s*average\s*=\s*{_NUM}",
                  re.IGNORECASE)


def _memory_block(lines: list[str]) -> dict | None:
    """benchmark_bin's optional ``Memory Usage(unit: MB):`` block (ours: init = RSS after load, peak = VmHWM)."""
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Memory Usage(unit: MB)")), None)
    if start is None:
        return None
    values = {}
    for ln in lines[start + 1:]:
        m = _KV.match(ln)
        if not m:
            break
        try:
            values.setdefault(m.group(1), float(m.group(2)))
        except ValueError:
            break
    return values or None


def parse_output(text: str) -> Perf:
    """Parse benchmark_bin output: the ``Perf Info`` / ``Time(unit: ms):`` block, or older
    ``min = .. max = .. average = ..`` lines. Raises RunnerError on anything else, and on impossible
    numbers (negative, NaN, inf, avg outside min..max)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("Time(unit: ms)")), None)
    if start is not None:
        values: dict[str, str] = {}
        for ln in lines[start + 1:]:
            m = _KV.match(ln)
            if not m:
                break                       # the block ends (e.g. at "Memory Usage(unit: MB):")
            values.setdefault(m.group(1), m.group(2))
        try:
            perf = Perf(avg_ms=float(values["avg"]), min_ms=float(values["min"]), max_ms=float(values["max"]),
                        init_ms=float(values["init"]) if "init" in values else None,
                        first_ms=float(values["first"]) if "first" in values else None,
                        raw_ms=[float(v) for v in values["raw"].split(",")] if values.get("raw") else None,
                        ref_ms=[float(v) for v in values["ref"].split(",")] if values.get("ref") else None)
        except (KeyError, ValueError):
            raise RunnerError(f"runner's 'Time(unit: ms)' block lacks numeric min/max/avg: {values}") from None
        perf.memory_mb = _memory_block(lines)
        return perf.validate()
    for ln in lines:
        m = _OLD.search(ln)
        if m:
            return Perf(avg_ms=float(m.group(3)), min_ms=float(m.group(1)), max_ms=float(m.group(2)),
                        format="legacy").validate()
    head = next((ln.strip() for ln in lines if ln.strip()), "(empty)")[:120]
    raise RunnerError("runner output has neither a 'Perf Info' block nor 'min = .. max = .. average = ..' "
                      f"line (first line: {head!r}); is --runner really Paddle Lite's benchmark_bin?")


@dataclass
class BenchResult:
    """One measurement: (device, model, threads)."""

    device: dict
    model: str
    model_file: str
    precision: str
    weights: str
    backend: str
    threads: int
    warmup: int
    repeats: int
    power_mode: int
    perf: dict
    storage_bytes: int
    runner: dict
    timestamp: str
    settings: dict = field(default_factory=dict)
    key: str = ""                 # hash of what decides the measurement (resumable runs skip a match)
    emulated: bool = False        # the CPU was emulated (qemu-user): outputs exact, times not a device's
    state: dict | None = None     # device state before/after, cores used, cooling, throttled + reasons
    load: dict | None = None      # model load: init ms, cache cold|warm (and why warm)

    def __post_init__(self) -> None:
        problem = result_problem(asdict(self))
        if problem:
            raise RunnerError(f"refusing to record the {self.model} result: {problem}; rerun the benchmark")

    def to_dict(self) -> dict:
        return asdict(self)


_TEXT = ("model", "backend", "precision", "weights", "timestamp", "model_file", "key")
_COUNTS = (("threads", 1), ("warmup", 0), ("repeats", 0), ("storage_bytes", 0), ("power_mode", 0))


def _shape_problem(settings) -> str | None:
    if not isinstance(settings, dict):
        return f"settings = {_show(settings)} is not a mapping"
    shape = settings.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not shape or
                              any(number_problem("", d, integer=True, minimum=1) for d in shape)):
        return f"settings.input_shape = {_show(shape)} is not a list of positive integers"
    return None


def result_problem(data: dict) -> str | None:
    """What is wrong with a result's fields (a BenchResult as a dict, fresh or stored), or None.
    Missing keys are the caller's business; present ones must have the right type and range."""
    device = data.get("device")
    if "device" in data and (not isinstance(device, dict) or not isinstance(device.get("serial"), str)):
        return f"device = {_show(device)} is not a mapping with a 'serial' string"
    for name in _TEXT:
        if name in data and not isinstance(data[name], str):
            return f"{name} = {_show(data[name])} is not a string"
    for name, least in _COUNTS:
        if name in data and (problem := number_problem(name, data[name], integer=True, minimum=least)):
            return problem
    if "emulated" in data and not isinstance(data["emulated"], bool):
        return f"emulated = {_show(data['emulated'])} is not true or false"
    if "settings" in data and (problem := _shape_problem(data["settings"])):
        return problem
    for name in ("state", "load"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            return f"{name} = {_show(data[name])} is not a mapping"
    if isinstance(data.get("state"), dict) and not isinstance(data["state"].get("throttled", False), bool):
        return f"state.throttled = {_show(data['state']['throttled'])} is not true or false"
    if "perf" not in data:
        return None
    if not isinstance(data["perf"], dict):
        return f"perf = {_show(data['perf'])} is not a mapping"
    problem = timing_problem(data["perf"])
    return f"perf.{problem}" if problem else None


def result_key(model_sha256: str, serial: str, backend: str, threads: int, warmup: int, repeats: int,
               power_mode: int, runner_sha256: str, rounds: int = 1) -> str:
    from .artifacts import settings_key
    settings = {"model": model_sha256, "device": serial, "backend": backend, "threads": threads,
                "warmup": warmup, "repeats": repeats, "power_mode": power_mode, "runner": runner_sha256}
    if rounds != 1:
        settings["rounds"] = rounds
    return settings_key(settings)


def stored_keys(bench_dir) -> set[str]:
    """Keys of the results already stored in a bench directory (unreadable files are ignored)."""
    import json
    from pathlib import Path
    keys = set()
    for f in Path(bench_dir).glob("*.json"):
        try:
            keys.add(json.loads(f.read_text()).get("key", ""))
        except (OSError, ValueError, AttributeError):
            continue
    return keys - {""}
