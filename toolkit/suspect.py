"""Rules that flag suspect latency cells in a table (PaddleClas's published one, or any other).

R1 repeated: a cell equals another model's cell in the same column although the two models'
   FLOPs differ by 2x or more (identical latency for very different compute is a copy-paste sign).
R2 weights: the same architecture with other weights (``_ssld`` vs base, same precision) differs by
   more than 15% (weights do not change latency).
R3 threads: more threads are slower than fewer.
For R1 and R2 the cell flagged is the one of the pair that fits its own row worse: its ratio to the
row's previous column (bs=1 for thread=1, thread=1 for thread=2, thread=2 for thread=4) is farther
from that ratio's median over the table.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, asdict

COLUMNS = ("t1", "t2", "t4")
PREVIOUS = {"t1": "bs1", "t2": "t1", "t4": "t2"}
FLOPS_RATIO = 2.0
SAME_ARCH_TOLERANCE = 0.15


@dataclass
class Row:
    name: str
    arch: str
    precision: str
    flops: float | None
    cells: dict[str, float | None]          # t1, t2, t4 and optionally bs1


@dataclass
class Flag:
    model: str
    column: str
    value: float
    rule: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(row: Row, col: str) -> float | None:
    prev = row.cells.get(PREVIOUS[col])
    val = row.cells.get(col)
    return val / prev if val and prev else None


def _misfit(rows: list[Row], col: str):
    medians = [r for r in (_ratio(x, col) for x in rows) if r is not None]
    med = statistics.median(medians) if medians else None

    def score(row: Row) -> float:
        r = _ratio(row, col)
        return abs(r / med - 1) if (r is not None and med) else 0.0
    return score


def _worse(a: Row, b: Row, col: str, score) -> Row:
    return a if score(a) >= score(b) else b


def flag(rows: list[Row]) -> list[Flag]:
    flags: dict[tuple[str, str], Flag] = {}

    def add(row: Row, col: str, rule: str, reason: str) -> None:
        key = (row.name, col)
        if key in flags:
            flags[key].rule += "+" + rule
            flags[key].reason += "; " + reason
        else:
            flags[key] = Flag(model=row.name, column=col, value=row.cells[col], rule=rule, reason=reason)

    for col in COLUMNS:
        score = _misfit(rows, col)
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                va, vb = a.cells.get(col), b.cells.get(col)
                if va is None or vb is None:
                    continue
                if a.arch != b.arch and va == vb and a.flops and b.flops and \
                        max(a.flops, b.flops) / min(a.flops, b.flops) >= FLOPS_RATIO:
                    w = _worse(a, b, col, score)
                    other = b if w is a else a
                    add(w, col, "R1", f"same {va:g} ms as {other.name} whose FLOPs differ "
                                      f"{max(a.flops, b.flops) / min(a.flops, b.flops):.1f}x")
                if a.arch == b.arch and a.precision == b.precision and a.name != b.name and \
                        abs(va - vb) / min(va, vb) > SAME_ARCH_TOLERANCE:
                    w = _worse(a, b, col, score)
                    other = b if w is a else a
                    add(w, col, "R2", f"{abs(va - vb) / min(va, vb):.0%} from {other.name}, same architecture")
    for r in rows:
        for lo, hi in (("t1", "t2"), ("t2", "t4")):
            if r.cells.get(lo) and r.cells.get(hi) and r.cells[hi] > r.cells[lo]:
                add(r, hi, "R3", f"slower than with fewer threads ({r.cells[hi]:g} > {r.cells[lo]:g} ms)")
    return list(flags.values())


def reference_rows() -> list[Row]:
    """PaddleClas's published SD855 table as rows."""
    from . import zoo
    return [Row(name=s.name, arch=s.arch, precision="int8" if s.int8 else "fp32", flops=s.reference.flops_g,
                cells={"bs1": s.reference.sd855_ms_bs1, "t1": s.reference.sd855_ms_t1, "t2": s.reference.sd855_ms_t2,
                       "t4": s.reference.sd855_ms_t4})
            for s in zoo.registry().values()]
