"""The study's table (md / csv / json / html) and its accuracy-vs-latency plot with the Pareto front."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from .artifacts import write_text_atomic
from .errors import MliteError
from .study import StudyResult, StudyRow

FORMATS = ("md", "csv", "json", "html")


def _cell(v, spec="{:.2f}") -> str:
    return "-" if v is None else spec.format(v)


def latency_keys(res: StudyResult) -> list[tuple[str, int]]:
    return sorted({(b, t) for r in res.rows for b, ts in r.latency_ms.items() for t in ts})


def columns(res: StudyResult) -> list[str]:
    cols = ["model", "precision", "top-1 %", "top-1 on device %", "MFLOPs", "params (M)", "activations (MB)",
            "peak RSS (MB)", "size (MB)"]
    if _has_ncnn(res):
        cols.append("ncnn size (MB)")
    cols += [f"{b} ms t={t}" for b, t in latency_keys(res)]
    return cols + ["fine-tune (s)", "init"]


def _has_ncnn(res: StudyResult) -> bool:
    return any(r.ncnn_size_mb is not None for r in res.rows)


def _row_cells(res: StudyResult, r: StudyRow) -> list[str]:
    if r.error:
        return [r.model, r.precision, f"FAILED: {r.error}"] + ["-"] * (len(columns(res)) - 3)
    cells = [r.model, r.precision, _cell(r.top1 and r.top1 * 100, "{:.1f}"),
             _cell(r.device_top1 * 100 if r.device_top1 is not None else None, "{:.1f}"),
             _cell(r.flops_g and r.flops_g * 1000, "{:.1f}"), _cell(r.params_m, "{:.3f}"),
             _cell(r.activation_peak_mb, "{:.3f}"),
             _cell(r.peak_rss_mb, "{:.0f}"), _cell(r.size_mb)]
    if _has_ncnn(res):
        cells.append(_cell(r.ncnn_size_mb))
    cells += [_cell(r.latency_ms.get(b, {}).get(t)) for b, t in latency_keys(res)]
    return cells + [_cell(r.train_s, "{:.0f}"), r.init or "-"]


def caption(res: StudyResult) -> str:
    d, s, sp = res.device, res.settings, res.split
    where = f"{d.get('model') or d['serial']} ({d.get('soc_name') or d.get('soc') or '?'}, {d.get('abi')})"
    emu = " - emulated CPU (qemu-user): times are not the board's or phone's" if res.emulated else ""
    return (f"Study on {where}{emu}. Data: {sp['train_images']} training / {sp['val_images']} validation images, "
            f"{sp['classes']} classes, {s['image_size']}x{s['image_size']}, {s['epochs']} epoch(s). Top-1 on the "
            f"validation images (host engine; 'on device': the device's runtime). Latency: average ms, batch 1, "
            f"warmup {s['warmup']}, repeats {s['repeats']}. FLOPs = 2 x multiply-adds at this input size; "
            "activations: peak of live activation tensors in the graph (batch 1).")


def to_markdown(res: StudyResult) -> str:
    cols = columns(res)
    lines = [f"### mlite study\n\n{caption(res)}\n", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_row_cells(res, r)) + " |" for r in res.rows]
    notes = sorted({f"- {r.model}: {r.init_note}" for r in res.rows if r.init == "scratch" and r.init_note})
    if notes:
        lines.append("\nTrained from scratch:\n" + "\n".join(notes))
    front = pareto_rows(res)
    if front:
        lines.append("\nPareto front (top-1 vs latency): " + ", ".join(f"{r.model} [{r.precision}]" for r in front))
    return "\n".join(lines) + "\n"


def to_csv(res: StudyResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns(res))
    for r in res.rows:
        w.writerow(_row_cells(res, r))
    return buf.getvalue()


def as_dict(res: StudyResult) -> dict:
    return res.to_dict() | {"caption": caption(res), "pareto": [[r.model, r.precision] for r in pareto_rows(res)]}


def to_json(res: StudyResult) -> str:
    return json.dumps(as_dict(res), indent=2) + "\n"


def to_html(res: StudyResult, png: bytes | None) -> str:
    cols = columns(res)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mlite study</title><style>"
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}td:first-child{text-align:left}"
             "</style></head><body><h1>mlite study</h1>", f"<p>{html.escape(caption(res))}</p><table><tr>"
             + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"]
    parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _row_cells(res, r)) + "</tr>" for r in res.rows]
    parts.append("</table>")
    if png:
        parts.append(f"<img alt='top-1 vs latency' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    return "\n".join(parts) + "</body></html>\n"


def plot_threads(res: StudyResult) -> int | None:
    keys = latency_keys(res)
    return min(t for _b, t in keys) if keys else None


def points(res: StudyResult) -> list[tuple[StudyRow, float, float]]:
    """(row, latency ms at the plot's thread count on its first backend, top-1 %) for rows with both."""
    t = plot_threads(res)
    out = []
    for r in res.rows:
        if r.error or r.top1 is None or t is None:
            continue
        ms = next((ts[t] for ts in r.latency_ms.values() if t in ts), None)
        if ms is not None:
            out.append((r, ms, (r.device_top1 if r.device_top1 is not None else r.top1) * 100))
    return out


def pareto_rows(res: StudyResult) -> list[StudyRow]:
    from .plots import pareto
    pts = points(res)
    front = set(pareto([(ms, acc) for _r, ms, acc in pts]))
    return [r for r, ms, acc in sorted(pts, key=lambda p: p[1]) if (ms, acc) in front]


def figure(res: StudyResult, fmt: str = "png") -> bytes | None:
    pts = points(res)
    if not pts:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .plots import pareto
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    for precision, marker in (("fp32", "o"), ("fp16", "^"), ("int8", "s")):
        sel = [p for p in pts if p[0].precision == precision]
        if sel:
            ax.scatter([p[1] for p in sel], [p[2] for p in sel], marker=marker, s=40, label=precision.upper())
    for r, ms, acc in pts:
        ax.annotate(r.model, (ms, acc), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = sorted(pareto([(ms, acc) for _r, ms, acc in pts]))
    ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="gray", label="Pareto front")
    t = plot_threads(res)
    ax.set_xlabel(f"latency (ms, batch 1, {t} thread{'s' if t > 1 else ''})"
                  + (" - emulated, not a device time" if res.emulated else ""))
    ax.set_ylabel("top-1 on the validation images (%)")
    ax.set_title(f"mlite study: {res.device.get('model') or res.device['serial']}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def render(res: StudyResult, fmt: str) -> str:
    if fmt not in FORMATS:
        raise MliteError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return {"md": lambda: to_markdown(res), "csv": lambda: to_csv(res), "json": lambda: to_json(res),
            "html": lambda: to_html(res, figure(res))}[fmt]()


def write_all(res: StudyResult, out: Path) -> dict[str, str]:
    """study.md/.csv/.json/.html and study.png in ``out``; their paths."""
    files = {}
    for fmt in FORMATS:
        path = Path(out) / f"study.{fmt}"
        write_text_atomic(path, render(res, fmt))
        files[fmt] = str(path)
    png = figure(res)
    if png:
        path = Path(out) / "study.png"
        tmp = path.with_name(".study.png.part")
        tmp.write_bytes(png)
        tmp.replace(path)
        files["png"] = str(path)
    return files
