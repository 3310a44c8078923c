"""The seed's two figures from the user's own numbers: top-1 vs latency (per family, Pareto front
marked) and top-1 vs storage."""
from __future__ import annotations

import io
from pathlib import Path

from .errors import MliteError

SIZE_IN = (16, 7)
DPI = 100            # -> 1600 x 700 pixels


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (lower-or-equal cost and higher-or-equal top-1), by cost."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def figure(tables, threads: int = 1, fmt: str = "png") -> bytes | None:
    """PNG (or SVG) bytes of the two panels, or None when no row has both a top-1 and a latency."""
    rows = [(t, r) for t in tables for r in t.rows.values() if r.top1 is not None and r.latency_ms]
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_lat, ax_size) = plt.subplots(1, 2, figsize=SIZE_IN, dpi=DPI)
    families: dict[str, list] = {}
    for t, r in rows:
        fam = f"{r.family or 'other'} [{r.backend}{', emulated CPU' if t.emulated else ''}]"
        lat = r.latency_ms.get(threads) or r.latency_ms[min(r.latency_ms)]
        families.setdefault(fam, []).append((lat, r.storage_bytes / 1e6, r.top1 * 100, r.model))
    for fam, pts in sorted(families.items()):
        pts.sort()
        line, = ax_lat.plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=fam, alpha=0.85)
        ax_size.plot(sorted(p[1] for p in pts), [p[2] for p in sorted(pts, key=lambda p: p[1])], "o-",
                     color=line.get_color(), label=fam, alpha=0.85)
    for ax, idx in ((ax_lat, 0), (ax_size, 1)):
        allp = [(p[idx], p[2]) for pts in families.values() for p in pts]
        front = pareto(allp)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black", linestyle="--",
                linewidth=1.2, label="Pareto front")
        ax.scatter([p[0] for p in front], [p[1] for p in front], s=90, facecolors="none", edgecolors="black",
                   zorder=3)
        for pts in families.values():
            for p in pts:
                ax.annotate(p[3], (p[idx], p[2]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("top-1 accuracy (%): published, or measured by 'mlite eval'")
        ax.legend(fontsize=8, loc="lower right")
    dev = tables[0].device
    where = f"{dev.get('model') or dev['serial']}" + (f" ({dev.get('soc_name')})" if dev.get("soc_name") else "")
    ax_lat.set_xlabel(f"latency (ms, batch 1, {threads} thread{'s' if threads > 1 else ''}) on {where}")
    ax_lat.set_title("Top-1 vs latency")
    ax_size.set_xlabel("storage (MB = 10^6 bytes, benchmarked model file)")
    ax_size.set_title("Top-1 vs storage")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def save(tables, path: Path, threads: int = 1) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise MliteError(f"--plot {str(path)!r}: use a .png or .svg file name")
    data = figure(tables, threads, fmt=path.suffix.lower()[1:])
    if data is None:
        raise MliteError("nothing to plot: no result has both a latency and a top-1 (published or from 'mlite eval')")
    from .artifacts import ensure_writable_dir
    ensure_writable_dir(path.parent, flag="--plot")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
