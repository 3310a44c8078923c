"""The runner contract (Paddle Lite's benchmark_bin flags and output), the output parser, and results."""
from __future__ import annotations

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

    def argv(self) -> list[str]:
        return [f"--optimized_model_file={self.model_file}",
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

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.raw_ms) if self.raw_ms else None

    @property
    def p90_ms(self) -> float | None:
        if not self.raw_ms:
            return None
        s = sorted(self.raw_ms)
        return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]

    @property
    def std_ms(self) -> float | None:
        return statistics.pstdev(self.raw_ms) if self.raw_ms and len(self.raw_ms) > 1 else None

    def to_dict(self) -> dict:
        return asdict(self) | {"p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "std_ms": self.std_ms}


_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_KV = re.compile(r"^\s*(\w+)\s*=\s*(.+?)\s*$")
_OLD = re.compile(rf"min\s*=\s*{_NUM}\s*(?:ms)?\s*,?\s*max\s*=\s*{_NUM}\s*(?:ms)?\s*,?\s*average\s*=\s*{_NUM}")


def parse_output(text: str) -> Perf:
    """Parse benchmark_bin output: the ``Perf Info`` / ``Time(unit: ms):`` block, or older
    ``min = .. max = .. average = ..`` lines. Raises RunnerError on anything else."""
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
                        raw_ms=[float(v) for v in values["raw"].split(",")] if values.get("raw") else None)
        except (KeyError, ValueError):
            raise RunnerError(f"runner's 'Time(unit: ms)' block lacks numeric min/max/avg: {values}") from None
        return perf
    for ln in lines:
        m = _OLD.search(ln)
        if m:
            return Perf(avg_ms=float(m.group(3)), min_ms=float(m.group(1)), max_ms=float(m.group(2)), format="legacy")
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

    def to_dict(self) -> dict:
        return asdict(self)


def result_key(model_sha256: str, serial: str, backend: str, threads: int, warmup: int, repeats: int,
               power_mode: int, runner_sha256: str) -> str:
    from .artifacts import settings_key
    return settings_key({"model": model_sha256, "device": serial, "backend": backend, "threads": threads,
                         "warmup": warmup, "repeats": repeats, "power_mode": power_mode, "runner": runner_sha256})


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
