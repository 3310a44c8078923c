"""Reports: the seed's table shape (latency at 1/2/4 threads, storage), optionally beside PaddleClas's
published SD855 numbers with ratios and suspect-cell flags; md / csv / json / html."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

from . import suspect, zoo
from .errors import MliteError
from .results import PRECISIONS, Row, Table, build_tables

FORMATS = ("md", "csv", "json", "html")
THREADS = (1, 2, 4)


@dataclass
class Report:
    tables: list[Table]
    reference: bool
    flags_published: list[suspect.Flag]
    flags_measured: dict[str, list[suspect.Flag]]      # table title -> flags

    @property
    def note(self) -> str | None:
        if len(self.tables) > 1:
            return (f"results come from {len(self.tables)} different devices or settings "
                    "(warmup/repeats/power mode/input); they are shown as separate tables, never mixed")
        return None


def _ref(name: str):
    reg = zoo.registry()
    return reg[name].reference if name in reg else None


def build(inputs: list[Path], reference: bool = False, by: str = "device") -> Report:
    tables = build_tables(inputs, by)
    measured = {}
    for t in tables:
        rows = []
        for r in t.rows.values():
            spec = zoo.registry().get(r.model)
            rows.append(suspect.Row(name=f"{r.model} [{r.backend}]", arch=(spec.arch if spec else r.model) + r.backend,
                                    precision=r.precision, flops=spec.reference.flops_g if spec else None,
                                    cells={f"t{k}": v for k, v in r.latency_ms.items()}))
        measured[t.title] = suspect.flag(rows)
    return Report(tables=tables, reference=reference,
                  flags_published=suspect.flag(suspect.reference_rows()) if reference else [], flags_measured=measured)


def _columns(rep: Report) -> list[str]:
    cols = ["Models", "backend", "precision", "weights"]
    for t in THREADS:
        cols.append(f"time(ms) bs=1 thread={t}" if t == 1 else f"thread={t}")
        if rep.reference:
            cols += [f"SD855 thread={t}", f"ratio t={t}"]
    cols.append("Storage Size(MB)")
    if rep.reference:
        cols += ["SD855 Storage(M)", "ratio storage"]
    cols += ["load cold/warm (ms)", "peak MB", "top-1", "top-1 source"]
    return cols


def _fmt(v, spec="{:.2f}") -> str:
    return "-" if v is None else spec.format(v)


def _rows(rep: Report, table: Table) -> list[list[str]]:
    pub_flags = {(f.model, f.column): f for f in rep.flags_published}
    meas_flags = {(f.model, f.column): f for f in rep.flags_measured.get(table.title, [])}
    out = []
    for r in sorted(table.rows.values(), key=lambda r: (r.model, r.backend)):
        ref = _ref(r.model)
        weights = "random (latency/size only)" if r.weights.startswith("random") else r.weights
        row = [r.model, r.backend, r.precision, weights]
        for t in THREADS:
            m = r.latency_ms.get(t)
            mf = meas_flags.get((f"{r.model} [{r.backend}]", f"t{t}"))
            row.append(_fmt(m) + (f" (suspect {mf.rule})" if mf else "") + (" (throttled)" if t in r.throttled else ""))
            if rep.reference:
                p = getattr(ref, f"sd855_ms_t{t}") if ref else None
                pf = pub_flags.get((r.model, f"t{t}"))
                row.append(_fmt(p) + (f" (suspect {pf.rule})" if pf else ""))
                row.append(_fmt(m / p if m is not None and p else None, "{:.2f}x"))
        mb = r.storage_bytes / 1e6
        row.append(_fmt(mb))
        if rep.reference:
            ps = ref.storage_mb if ref else None
            row += [_fmt(ps, "{:.1f}"), _fmt(mb / ps if ps else None, "{:.2f}x")]
        row += [_load_cell(r), _fmt(max(r.peak_mb.values()) if r.peak_mb else None, "{:.1f}")]
        row += [_fmt(r.top1 * 100 if r.top1 is not None else None, "{:.1f}"), _top1_source(r)]
        out.append(row)
    return out


def _load_cell(r: Row) -> str:
    if not r.load_ms:
        return "-"
    return f"{_fmt(r.load_ms.get('cold'), '{:.1f}')}/{_fmt(r.load_ms.get('warm'), '{:.1f}')}"


def _top1_source(r: Row) -> str:
    if r.top1_source == "published" and r.weights.startswith("random"):
        return "published by PaddleClas for its weights, not this random-weight file"
    if r.top1_source != "eval":
        return r.top1_source or "-"
    return f"eval: {r.top1_by}" + (f", {r.top1_images} images" if r.top1_images else "")


@dataclass
class PrecisionView:
    """Per model, each (precision, engine) of one table side by side, as in Paddle Lite's own benchmark tables:
    size, latency at every measured thread count, top-1 with the engine that measured it."""

    threads: list[int]
    keys: list[tuple[str, str]]                       # (precision, backend), report order
    models: dict[str, dict[tuple[str, str], Row]]     # FP32 model -> key -> row
    emulated: bool = False                            # the times are qemu-user's, not a device's

    def mixed_data(self, model: str) -> bool:
        """The model's measured top-1 values come from more than one image set."""
        return len({r.top1_data for r in self.models[model].values() if r.top1_source == "eval"}) > 1


def _rank(precision: str) -> int:
    return PRECISIONS.index(precision) if precision in PRECISIONS else len(PRECISIONS)


def precision_view(table: Table) -> PrecisionView | None:
    """The side-by-side view when some model was measured at more than one precision, else None."""
    models: dict[str, dict[tuple[str, str], Row]] = {}
    for r in table.rows.values():
        models.setdefault(r.group, {})[(r.precision, r.backend)] = r
    if not any(len({p for p, _ in g}) > 1 for g in models.values()):
        return None
    keys = sorted({k for g in models.values() for k in g}, key=lambda k: (_rank(k[0]), k))
    measured = sorted({t for r in table.rows.values() for t in r.latency_ms})
    return PrecisionView(threads=measured, keys=keys, models=dict(sorted(models.items())), emulated=table.emulated)


def _view_columns(view: PrecisionView) -> list[str]:
    cols = ["Models"]
    ms = "emulated ms" if view.emulated else "ms"
    for p, b in view.keys:
        cols += [f"{p} [{b}] MB"] + [f"{p} [{b}] {ms} t={t}" for t in view.threads] + [f"{p} [{b}] top-1 (engine)"]
    return cols


def _short_engine(r: Row) -> str:
    if r.top1_source != "eval":
        return r.top1_source or "-"
    return r.top1_engine.split(" (")[0] + (f" on {r.top1_device}" if r.top1_device else "")


def _view_rows(view: PrecisionView) -> list[list[str]]:
    out = []
    for model, cells in view.models.items():
        row = [model + (" †" if view.mixed_data(model) else "")]
        for key in view.keys:
            r = cells.get(key)
            if r is None:
                row += ["-"] * (2 + len(view.threads))
                continue
            top1 = "-" if r.top1 is None else f"{r.top1 * 100:.1f} ({_short_engine(r)})"
            row += [_fmt(r.storage_bytes / 1e6)] + [_fmt(r.latency_ms.get(t)) for t in view.threads] + [top1]
        out.append(row)
    return out


def _view_note(view: PrecisionView) -> str:
    text = ("Precisions side by side: size, latency per thread count (engine in the column) and top-1 with the "
            "engine that measured it.")
    if view.emulated:
        text += " Times are emulated (qemu-user): they rank nothing on a phone; outputs and top-1 are exact."
    if any(view.mixed_data(m) for m in view.models):
        text += " † this model's top-1 values come from different image sets: compare them with care."
    return text


def _header(rep: Report, table: Table) -> str:
    ref = " | reference: PaddleClas, Snapdragon 855 (SD855), published" if rep.reference else ""
    return (f"Device: {table.title}. Latency: average ms, batch 1. Storage: size of the benchmarked model file "
            f"(.nb; .onnx for onnxruntime rows) in MB (10^6 bytes) as seen on the device{ref}.")


def _flag_lines(rep: Report, table: Table) -> list[str]:
    lines = [f"- measured {f.model} {f.column}: {f.rule} {f.reason}" for f in rep.flags_measured.get(table.title, [])]
    return lines


def _throttle_lines(table: Table) -> list[str]:
    return [f"- {r.model} [{r.backend}] thread={t}: {'; '.join(why)}"
            for r in sorted(table.rows.values(), key=lambda r: (r.model, r.backend))
            for t, why in sorted(r.throttled.items())]


_THROTTLE_HEAD = ("Throttled cells (the device's temperature rose or its allowed CPU frequency fell during the run, "
                  "or it started hot): rerun them cooler, e.g. with --cooldown-until 40:")


def _published_flag_lines(rep: Report) -> list[str]:
    return [f"- published {f.model} thread={f.column[1:]} = {f.value:g} ms: {f.rule} {f.reason}"
            for f in rep.flags_published]


def to_markdown(rep: Report) -> str:
    parts = []
    if rep.note:
        parts.append(f"> Note: {rep.note}.\n")
    for table in rep.tables:
        cols = _columns(rep)
        parts.append(f"### {table.title}\n\n{_header(rep, table)}\n")
        parts.append("| " + " | ".join(cols) + " |")
        parts.append("|" + "|".join("---" for _ in cols) + "|")
        parts += ["| " + " | ".join(row) + " |" for row in _rows(rep, table)]
        flags = _flag_lines(rep, table)
        if flags:
            parts.append("\nSuspect measured cells:\n" + "\n".join(flags))
        hot = _throttle_lines(table)
        if hot:
            parts.append(f"\n{_THROTTLE_HEAD}\n" + "\n".join(hot))
        view = precision_view(table)
        if view is not None:
            vcols = _view_columns(view)
            parts.append(f"\n{_view_note(view)}\n")
            parts.append("| " + " | ".join(vcols) + " |")
            parts.append("|" + "|".join("---" for _ in vcols) + "|")
            parts += ["| " + " | ".join(row) + " |" for row in _view_rows(view)]
        parts.append("")
    if rep.reference and rep.flags_published:
        parts.append("Suspect published cells (rules R1 repeated value, R2 same architecture, R3 more threads "
                     "slower):\n" + "\n".join(_published_flag_lines(rep)))
    return "\n".join(parts) + "\n"


def to_csv(rep: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["device", "serial", "warmup", "repeats", "power_mode", *_columns(rep)])
    for table in rep.tables:
        d, s = table.device, table.settings
        for row in _rows(rep, table):
            w.writerow([d.get("model") or d["serial"], d["serial"], s["warmup"], s["repeats"], s["power_mode"], *row])
    return buf.getvalue()


def to_json(rep: Report) -> str:
    out = {"note": rep.note, "storage_unit": "MB (10^6 bytes)", "latency": "average ms, batch 1", "tables": []}
    for table in rep.tables:
        rows = []
        for r in sorted(table.rows.values(), key=lambda r: (r.model, r.backend)):
            ref = _ref(r.model) if rep.reference else None
            rows.append({"model": r.model, "backend": r.backend, "precision": r.precision, "weights": r.weights,
                         "latency_ms": {str(k): v for k, v in sorted(r.latency_ms.items())},
                         "storage_mb": r.storage_bytes / 1e6, "top1": r.top1, "top1_source": r.top1_source,
                         "top1_engine": r.top1_by, "top1_images": r.top1_images, "base_model": r.group,
                         "family": r.family, "throttled": {str(k): v for k, v in sorted(r.throttled.items())},
                         "load_ms": r.load_ms or None,
                         "peak_mb": {str(k): v for k, v in sorted(r.peak_mb.items())} or None,
                         "published": None if ref is None else {
                             "latency_ms": {str(t): getattr(ref, f"sd855_ms_t{t}") for t in THREADS},
                             "storage_mb": ref.storage_mb, "top1": ref.top1}})
        view = precision_view(table)
        out["tables"].append({"device": table.device, "devices": table.serials, "settings": table.settings,
                              "emulated": table.emulated,
                              "title": table.title, "rows": rows, "by_precision": _view_json(view),
                              "suspect_measured": [f.to_dict() for f in rep.flags_measured.get(table.title, [])]})
    if rep.reference:
        out["suspect_published"] = [f.to_dict() for f in rep.flags_published]
    return json.dumps(out, indent=2) + "\n"


def _view_json(view: PrecisionView | None) -> dict | None:
    if view is None:
        return None
    models = []
    for model, cells in view.models.items():
        models.append({"model": model, "same_images": not view.mixed_data(model), "precisions": [
            {"precision": p, "backend": b, "storage_mb": r.storage_bytes / 1e6,
             "latency_ms": {str(t): r.latency_ms.get(t) for t in view.threads},
             "top1": r.top1, "top1_source": r.top1_source, "top1_engine": r.top1_by, "top1_images": r.top1_images}
            for (p, b), r in sorted(cells.items(), key=lambda kv: (_rank(kv[0][0]), kv[0]))]})
    return {"threads": view.threads, "emulated": view.emulated, "models": models}


def to_html(rep: Report, plot_png: bytes | None) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mlite report</title><style>"
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}td:first-child{text-align:left}"
             "caption{text-align:left;font-weight:bold;padding:6px 0}</style></head><body><h1>mlite report</h1>"]
    if rep.note:
        parts.append(f"<p><b>Note:</b> {html.escape(rep.note)}.</p>")
    cols = _columns(rep)
    for table in rep.tables:
        parts.append(f"<table><caption>{html.escape(table.title)}</caption><tr>"
                     + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for row in _rows(rep, table):
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append(f"</table><p>{html.escape(_header(rep, table))}</p>")
        parts += [f"<p>{html.escape(ln)}</p>" for ln in _flag_lines(rep, table)]
        hot = _throttle_lines(table)
        if hot:
            parts.append(f"<p><b>{html.escape(_THROTTLE_HEAD)}</b></p><ul>"
                         + "".join(f"<li>{html.escape(ln[2:])}</li>" for ln in hot) + "</ul>")
        view = precision_view(table)
        if view is not None:
            parts.append("<table><caption>Precisions side by side</caption><tr>"
                         + "".join(f"<th>{html.escape(c)}</th>" for c in _view_columns(view)) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in _view_rows(view)]
            parts.append(f"</table><p>{html.escape(_view_note(view))}</p>")
    if rep.reference and rep.flags_published:
        parts.append("<h2>Suspect published cells</h2><ul>" +
                     "".join(f"<li>{html.escape(ln[2:])}</li>" for ln in _published_flag_lines(rep)) + "</ul>")
    if plot_png:
        parts.append("<h2>Accuracy vs latency and storage</h2><img alt='top-1 vs latency and storage' "
                     f"src='data:image/png;base64,{base64.b64encode(plot_png).decode()}'>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def render(rep: Report, fmt: str, plot_png: bytes | None = None) -> str:
    if fmt not in FORMATS:
        raise MliteError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return {"md": lambda: to_markdown(rep), "csv": lambda: to_csv(rep), "json": lambda: to_json(rep),
            "html": lambda: to_html(rep, plot_png)}[fmt]()
