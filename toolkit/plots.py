"""The seed's two figures from the user's own numbers: top-1 vs latency (per family, Pareto front
marked) and top-1 vs storage, one row of the two panels per table (device + settings), never mixed."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from .errors import MliteError

SIZE_IN = (16, 7)    # per table (one row of two panels)
DPI = 100            # -> 1600 x 700 pixels per table
PUBLISHED_LABEL = "top-1: published by PaddleClas for its weights, not measured here (hollow)"
MEASURED_LABEL = "top-1: measured by 'mlite eval' (filled)"


class PlotError(MliteError):
    """Results that cannot be plotted as asked."""


@dataclass(frozen=True)
class Point:
    """One row of a table as plotted."""

    model: str
    series: str                   # legend entry: family [backend]
    latency_ms: float | None      # at the plotted thread count; None: not measured there (left out)
    storage_mb: float
    top1: float                   # percent
    published: bool               # PaddleClas's published top-1, not measured here


@dataclass(frozen=True)
class Panels:
    """One table's row of two panels."""

    title: str
    emulated: bool
    points: tuple[Point, ...]

    @property
    def latency_points(self) -> list[Point]:
        return [p for p in self.points if p.latency_ms is not None]


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (lower-or-equal cost and higher-or-equal top-1), by cost."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _point(row, threads: int) -> Point:
    return Point(model=row.model, series=f"{row.family or 'other'} [{row.backend}]",
                 latency_ms=row.latency_ms[threads] if threads in row.latency_ms else None,
                 storage_mb=row.storage_bytes / 1e6, top1=row.top1 * 100, published=row.top1_source != "eval")


def select(tables, threads: int) -> list[Panels]:
    """Per table (never mixed), the rows with a top-1 and a latency; a row's latency is the one at
    ``threads`` or None. PlotError when no row has a latency at ``threads``."""
    out = []
    for t in tables:
        rows = sorted((r for r in t.rows.values() if r.top1 is not None and r.latency_ms),
                      key=lambda r: (r.model, r.backend))
        if rows:
            out.append(Panels(title=t.title, emulated=t.emulated, points=tuple(_point(r, threads) for r in rows)))
    if out and not any(p.latency_points for p in out):
        have = sorted({k for t in tables for r in t.rows.values() if r.top1 is not None for k in r.latency_ms})
        raise PlotError(f"no results at {threads} thread(s) to plot (results with a top-1 exist at "
                        f"{', '.join(map(str, have))} thread(s)); pass --threads {have[0]}")
    return out


def _series(ax, pts: list[Point], x, label: str, color: str) -> None:
    """One family's line, filled markers for measured top-1, hollow for published, model names."""
    ax.plot([x(p) for p in pts], [p.top1 for p in pts], "-", color=color, label=label, alpha=0.85)
    for published, face in ((False, color), (True, "none")):
        sel = [p for p in pts if p.published == published]
        ax.scatter([x(p) for p in sel], [p.top1 for p in sel], s=36, facecolors=face, edgecolors=color,
                   linewidths=1.5, zorder=3)
    for p in pts:
        ax.annotate(p.model, (x(p), p.top1), fontsize=7, xytext=(3, 3), textcoords="offset points")


def _finish(ax, pts: list[Point], x) -> None:
    """Pareto front, grid, labels and the legend (series, marker meaning, front)."""
    from matplotlib.lines import Line2D
    front = pareto([(x(p), p.top1) for p in pts])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black", linestyle="--",
            linewidth=1.2, label="Pareto front")
    kinds = [(MEASURED_LABEL, "gray")] * any(not p.published for p in pts) + \
            [(PUBLISHED_LABEL, "none")] * any(p.published for p in pts)
    handles = [Line2D([], [], linestyle="none", marker="o", markerfacecolor=face, markeredgecolor="gray",
                      label=label) for label, face in kinds]
    ax.grid(True, alpha=0.3)
    ax.set_ylabel("top-1 accuracy (%): published, or measured by 'mlite eval'")
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize=8, loc="best")


def _draw_row(sub, panels: Panels, threads: int) -> None:
    ax_lat, ax_size = sub.subplots(1, 2)
    sub.suptitle(panels.title, fontsize=10, color="firebrick" if panels.emulated else "black")
    series: dict[str, list[Point]] = {}
    for p in panels.points:
        series.setdefault(p.series, []).append(p)
    lat, size = (lambda p: p.latency_ms), (lambda p: p.storage_mb)
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = f"C{i % 10}"
        measured = sorted((p for p in pts if p.latency_ms is not None), key=lat)
        if measured:
            _series(ax_lat, measured, lat, name, color)
        _series(ax_size, sorted(pts, key=size), size, name, color)
    if panels.latency_points:
        _finish(ax_lat, panels.latency_points, lat)
    else:
        ax_lat.text(0.5, 0.5, f"no results at {threads} thread(s) in this table", ha="center",
                    transform=ax_lat.transAxes)
        ax_lat.set_xticks([])
        ax_lat.set_yticks([])
    _finish(ax_size, list(panels.points), size)
    emulated = ": emulated CPU, not a phone latency" if panels.emulated else ""
    ax_lat.set_xlabel(f"latency (ms, batch 1, {threads} thread{'s' if threads > 1 else ''}){emulated}")
    ax_lat.set_title(f"Top-1 vs latency at {threads} thread{'s' if threads > 1 else ''}")
    ax_size.set_xlabel("storage (MB = 10^6 bytes, benchmarked model file)")
    ax_size.set_title("Top-1 vs storage")


def draw(panels: list[Panels], threads: int):
    """A matplotlib Figure: one row of the two panels per table, titled with the table's device and settings."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(SIZE_IN[0], SIZE_IN[1] * len(panels)), dpi=DPI, layout="constrained")
    for sub, p in zip(fig.subfigures(len(panels), 1, squeeze=False)[:, 0], panels):
        _draw_row(sub, p, threads)
    return fig


def figure(tables, threads: int = 1, fmt: str = "png") -> bytes | None:
    """PNG (or SVG) bytes of the panels, or None when no row has both a top-1 and a latency.
    PlotError when no row has a latency at ``threads``."""
    panels = select(tables, threads)
    if not panels:
        return None
    fig = draw(panels, threads)
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def save(tables, path: Path, threads: int = 1) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise PlotError(f"--plot {str(path)!r}: use a .png or .svg file name")
    data = figure(tables, threads, fmt=path.suffix.lower()[1:])
    if data is None:
        raise PlotError("nothing to plot: no result has both a latency and a top-1 (published or from 'mlite eval')")
    from .artifacts import ensure_writable_dir
    ensure_writable_dir(path.parent, flag="--plot")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
