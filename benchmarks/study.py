"""Benchmark: `mlite study --preset blog` — the lightweight-network study's 11 models, fine-tuned on
scikit-learn's digits (32x32, 10 classes) and measured on the SSH "board" (Debian arm64 userland under
qemu-user: real ARM kernels, emulated times) with Paddle Lite and ncnn side by side.

Writes benchmarks/results/study.json, study.md and study.png. Needs root (the board) and the ARM runner.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", help="comma-separated subset (default: --preset blog)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    from tests.fixtures import board as board_fx
    from tests.fixtures.digits import write_digits
    from toolkit import api
    why = board_fx.unavailable()
    if why:
        print(f"benchmarks.study: {why}", file=sys.stderr)
        return 1
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="mlite-bench-study-") as work:
        train, _test = write_digits(Path(work) / "digits")
        with board_fx.board(Path(work) / "board") as b:
            t0 = time.perf_counter()
            res = api.study(train, models=args.models, preset=None if args.models else "blog",
                            device=f"ssh:{b.target}", ssh_config=b.config, val_split=0.2, epochs=args.epochs,
                            image_size=32, precisions=["fp32", "int8"], backends=["lite", "ncnn"], threads=[1, 2],
                            warmup=2, repeats=10, out=Path(work) / "study", progress=False)
            wall = time.perf_counter() - t0
        out.mkdir(parents=True, exist_ok=True)
        for ext in ("json", "md", "png"):
            src = Path(res.files.get(ext, ""))
            if src.is_file():
                shutil.copyfile(src, out / f"study.{ext}")
    failed = sorted({r.model for r in res.rows if r.error})
    print((out / "study.md").read_text())
    print(f"wall {wall:.0f} s; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
