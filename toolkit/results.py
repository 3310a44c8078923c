"""Load stored benchmark results (``*/bench/*.json``) with their artifacts' manifests, grouped for tables."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import SUPERSEDED, precision_label, read_manifest
from .bench import result_problem
from .errors import MliteError

EMULATED_NOTE = "emulated CPU (qemu-user): not a phone latency"
PRECISIONS = ("fp32", "fp16", "int8", "int8-mixed")      # report order
REQUIRED = ("device", "model", "backend", "threads", "perf", "storage_bytes", "warmup", "repeats")


class ReportError(MliteError):
    """Result files that cannot be reported."""


@dataclass
class Row:
    """One model x backend on one device: latency per thread count, storage, accuracy, weights."""

    model: str
    backend: str
    precision: str
    weights: str
    storage_bytes: int
    latency_ms: dict[int, float] = field(default_factory=dict)     # threads -> avg ms (latest run)
    stamps: dict[int, str] = field(default_factory=dict)
    top1: float | None = None
    top1_source: str | None = None        # "eval" (measured here) or "published"
    family: str | None = None
    sources: list[str] = field(default_factory=list)
    base_model: str | None = None         # the FP32 model an INT8/FP16 artifact was made from (else model)
    top1_engine: str | None = None        # the runtime that produced the top-1 (eval), e.g. onnxruntime
    top1_device: str | None = None        # the device it ran on (serial), None for a host engine
    top1_images: int | None = None
    top1_data: str | None = None          # sha256 of the eval's image list: same value = same images
    throttled: dict[int, list[str]] = field(default_factory=dict)   # threads -> why the latest run is throttled
    load_ms: dict[str, float] = field(default_factory=dict)         # cold / warm model load (runner init), ms
    peak_mb: dict[int, float] = field(default_factory=dict)         # threads -> runner peak RSS, MB

    @property
    def group(self) -> str:
        return self.base_model or self.model

    @property
    def top1_by(self) -> str | None:
        """The engine that produced the top-1, and the device it ran on."""
        if self.top1_engine is None or self.top1_device is None:
            return self.top1_engine
        return f"{self.top1_engine} on {self.top1_device}"


@dataclass
class Table:
    device: dict
    settings: dict                        # warmup, repeats, power_mode, input_shape
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    emulated: bool = False                # qemu-user / emulator: exact outputs, times not a device's
    serials: list[str] = field(default_factory=list)     # the devices whose results it holds (by SoC: several)

    @property
    def title(self) -> str:
        d = self.device
        soc = d.get("soc_name") or d.get("soc") or "?"
        s = self.settings
        who = (f"serial {d['serial']}" if len(self.serials) <= 1
               else f"{len(self.serials)} devices pooled by SoC: {', '.join(self.serials)}")
        return (f"{d.get('model') or d['serial']} ({soc}, {d.get('abi')}, {who}) - "
                f"warmup {s['warmup']}, repeats {s['repeats']}, power_mode {s['power_mode']}, "
                f"input {'x'.join(map(str, s['input_shape']))}"
                + (f" - {EMULATED_NOTE}" if self.emulated else ""))


def result_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.json")          # superseded/: results of replaced artifacts
                            if f.parent.name == "bench" and SUPERSEDED not in f.relative_to(p).parts)
        elif p.is_file():
            files.append(p)
        else:
            raise ReportError(f"{str(p)!r} does not exist; pass result directories (e.g. mlite_out) or bench JSON files")
    if not files:
        raise ReportError(f"no benchmark results under {', '.join(map(str, inputs))}: run 'mlite run' or "
                          "'mlite push --adb' / 'mlite bench --local' first")
    return files


def load(path: Path) -> dict:
    """One stored result, its keys present and every field of the right type and range (else ReportError)."""
    try:
        data = json.loads(Path(path).read_text())
    except ValueError as e:
        raise ReportError(f"result file {str(path)!r} is not valid JSON ({e}); delete it or rerun the benchmark") from None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED):
        raise ReportError(f"{str(path)!r} is not an mlite benchmark result (missing "
                          f"{[k for k in REQUIRED if not isinstance(data, dict) or k not in data][:3]})")
    problem = result_problem(data)
    if problem:
        raise ReportError(f"result file {str(path)!r} has a bad field: {problem}; "
                          "rerun the benchmark or remove the file")
    return data


@dataclass
class Accuracy:
    top1: float | None = None
    source: str | None = None             # eval | published
    engine: str | None = None
    images: int | None = None
    data: str | None = None
    device: str | None = None             # serial of the device the eval ran on


def pick_eval(evals: list[dict], backend: str, serial: str) -> dict | None:
    """The latest eval by the engine that measured the latency (this device's runtime for device rows, the
    same host backend otherwise), else the latest eval of any engine (its engine is reported with it)."""
    def same_engine(e: dict) -> bool:
        on = (e.get("device") or {}).get("serial")
        return on == serial if on else e.get("backend") == backend
    same = [e for e in evals if same_engine(e)]
    return (same or evals or [None])[-1]


def _accuracy(md: dict, name: str, backend: str, serial: str) -> Accuracy:
    e = pick_eval(md.get("eval") or [], backend, serial)
    if e is not None:
        serial = (e.get("device") or {}).get("serial")
        return Accuracy(top1=e["top1"], source="eval",
                        engine=(e.get("engine") or e["backend"]) if serial else e["backend"],
                        images=e.get("images"), data=e.get("data_sha256"), device=serial)
    from . import zoo
    reg = zoo.registry()
    if name in reg:
        return Accuracy(top1=reg[name].reference.top1, source="published", engine="PaddleClas")
    return Accuracy()


def _family(name: str) -> str | None:
    from . import zoo
    spec = zoo.registry().get(name)
    return spec.family if spec else None


def _device_side(row: Row, threads: int, r: dict) -> None:
    """Throttling, load time and peak memory of the result now shown for ``threads``."""
    state = r.get("state") or {}
    row.throttled.pop(threads, None)
    if state.get("throttled"):
        row.throttled[threads] = list(state.get("reasons") or ["flagged throttled"])
    load = r.get("load") or {}
    if isinstance(load.get("init_ms"), (int, float)) and load.get("cache") in ("cold", "warm"):
        kind = load["cache"]
        # warm: the fastest warm load seen; cold: the latest cold one
        if kind == "cold" or kind not in row.load_ms or load["init_ms"] < row.load_ms[kind]:
            row.load_ms[kind] = float(load["init_ms"])
    peak = ((r["perf"].get("memory_mb") or {}).get("peak"))
    if isinstance(peak, (int, float)):
        row.peak_mb[threads] = float(peak)


BY = ("device", "soc")


def _device_key(device: dict, by: str) -> str:
    if by == "device":
        return device["serial"]
    from .devices.base import DeviceInfo, group_key
    known = {k: v for k, v in device.items() if k in DeviceInfo.__dataclass_fields__}
    return group_key(DeviceInfo(**known))


def build_tables(inputs: list[Path], by: str = "device") -> list[Table]:
    """Tables keyed by device (or, ``by="soc"``, by SoC + ABI: a farm's phones pooled) and measurement
    settings (results from other settings never share a table)."""
    if by not in BY:
        raise ReportError(f"--by {by!r}: choose device (one table per phone) or soc (phones of one SoC pooled)")
    tables: dict[tuple, Table] = {}
    for f in result_files(inputs):
        r = load(f)
        settings = {"warmup": r["warmup"], "repeats": r["repeats"], "power_mode": r.get("power_mode", 0),
                    "input_shape": r.get("settings", {}).get("input_shape", [1, 3, 224, 224])}
        emulated = bool(r.get("emulated") or r["device"].get("emulated"))
        tkey = (_device_key(r["device"], by), emulated, json.dumps(settings, sort_keys=True))
        table = tables.setdefault(tkey, Table(r["device"], settings, emulated=emulated))
        if r["device"]["serial"] not in table.serials:
            table.serials.append(r["device"]["serial"])
        rkey = (r["model"], r["backend"])
        row = table.rows.get(rkey)
        if row is None:
            m = read_manifest(f.parent.parent)
            md = m.to_dict() if m else {}
            acc = _accuracy(md, r["model"], r["backend"], r["device"]["serial"])
            row = table.rows[rkey] = Row(
                model=r["model"], backend=r["backend"], precision=precision_label(md, r.get("precision", "?")),
                weights=r.get("weights", "?"), storage_bytes=r["storage_bytes"], top1=acc.top1, top1_source=acc.source,
                family=md.get("family") or _family(r["model"]),
                base_model=(md.get("source") or {}).get("model") if md.get("precision") in ("int8", "fp16") else None,
                top1_engine=acc.engine, top1_device=acc.device, top1_images=acc.images, top1_data=acc.data)
        t = int(r["threads"])
        if t not in row.stamps or r.get("timestamp", "") >= row.stamps[t]:
            row.latency_ms[t] = float(r["perf"]["avg_ms"])
            row.stamps[t] = r.get("timestamp", "")
            row.storage_bytes = r["storage_bytes"]
            _device_side(row, t, r)
        row.sources.append(str(f))
    return list(tables.values())
