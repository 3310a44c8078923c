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
from .results import Table, build_tables

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


def build(inputs: list[Path], reference: bool = False) -> Report:
    tables = build_tables(inputs)
    measured = {}
    for t in tables:
        rows = []
        for r in t.rows.values():
            spec = zoo.registry().get(r.model)
            rows.append(suspect.Row(f"{r.model} [{r.backend}]", (spec.arch if spec else r.model) + r.backend,
                                    r.precision, spec.reference.flops_g if spec else None,
                                    {f"t{k}": v for k, v in r.latency_ms.items()}))
        measured[t.title] = suspect.flag(rows)
    return Report(tables, reference, suspect.flag(suspect.reference_rows()) if reference else [], measured)


def _columns(rep: Report) -> list[str]:
    cols = ["Models", "backend", "precision", "weights"]
    for t in THREADS:
        cols.append(f"time(ms) bs=1 thread={t}" if t == 1 else f"thread={t}")
        if rep.reference:
            cols += [f"SD855 thread={t}", f"ratio t={t}"]
    cols.append("Storage Size(MB)")
    if rep.reference:
        cols += ["SD855 Storage(M)", "ratio storage"]
    cols += ["top-1", "top-1 source"]
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
            row.append(_fmt(m) + (f" (suspect {mf.rule})" if mf else ""))
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
        row += [_fmt(r.top1 * 100 if r.top1 is not None else None, "{:.1f}"), r.top1_source or "-"]
        out.append(row)
    return out


def _header(rep: Report, table: Table) -> str:
    ref = " | reference: PaddleClas, Snapdragon 855 (SD855), published" if rep.reference else ""
    return (f"Device: {table.title}. Latency: average ms, batch 1. Storage: size of the benchmarked model file "
            f"(.nb; .onnx for onnxruntime rows) in MB (10^6 bytes) as seen on the device{ref}.")


def _flag_lines(rep: Report, table: Table) -> list[str]:
    lines = [f"- measured {f.model} {f.column}: {f.rule} {f.reason}" for f in rep.flags_measured.get(table.title, [])]
    return lines


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
                         "family": r.family,
                         "published": None if ref is None else {
                             "latency_ms": {str(t): getattr(ref, f"sd855_ms_t{t}") for t in THREADS},
                             "storage_mb": ref.storage_mb, "top1": ref.top1}})
        out["tables"].append({"device": table.device, "settings": table.settings, "emulated": table.emulated,
                              "title": table.title, "rows": rows,
                              "suspect_measured": [f.to_dict() for f in rep.flags_measured.get(table.title, [])]})
    if rep.reference:
        out["suspect_published"] = [f.to_dict() for f in rep.flags_published]
    return json.dumps(out, indent=2) + "\n"


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
