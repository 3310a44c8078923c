"""Our PTQ speed-ups (quant/ptq_worker.py SPEEDUPS: histogram counting, graph links, the persistable-node
lookup) and the serving worker's forks write the same bytes as PaddleSlim's own code in a fresh process."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from converters.compat import canonical_program
from converters.proc import WorkerServer
from quant.ptq import OP_TYPES
from tests.conftest import run_mlite

pytestmark = pytest.mark.slow
MODELS = ("MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25")


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32")
    for name in MODELS:
        p = run_mlite("export", "--model", name, "--weights", "random", "--image-size", 32, "--target", "x86",
                      "--out", out)
        assert p.returncode == 0, p.stderr
    return out


def _job(src, out, algo, skip=()):
    out.mkdir(parents=True)
    job = {"model_dir": str(src), "model_filename": "inference.pdmodel", "params_filename": "inference.pdiparams",
           "out_dir": str(out), "algo": algo, "batch_size": 8, "feed_name": "x", "op_types": OP_TYPES,
           "calib": {"kind": "synthetic", "count": 16, "shape": [1, 3, 32, 32], "seed": 0}, "skip_tensors": list(skip)}
    f = out.parent / f"{out.name}.json"
    f.write_text(json.dumps(job))
    return f


def _digest(out):
    canonical_program(out / "inference.pdmodel")
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in ("inference.pdmodel", "inference.pdiparams")}


@pytest.mark.parametrize("algo, skip_first", [("hist", False), ("abs_max", True)])
def test_speedups_and_forks_write_paddleslims_bytes(fp32, tmp_path, algo, skip_first):
    from quant.sensitivity import weight_names
    srv = WorkerServer("quant.ptq_worker", "PTQ")
    try:
        for name in MODELS:
            skip = weight_names(fp32 / name / "inference.pdmodel")[:1] if skip_first else ()   # mixed precision
            plain = _job(fp32 / name, tmp_path / f"{name}-plain", algo, skip)
            p = subprocess.run([sys.executable, "-m", "quant.ptq_worker", "--plain", str(plain)], capture_output=True,
                               text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=600)
            assert p.returncode == 0, p.stderr[-2000:]
            fast = [srv.call(_job(fp32 / name, tmp_path / f"{name}-fast{i}", algo, skip)) for i in range(2)]
            assert all(f["phases_s"]["rewrite"] > 0 for f in fast)
            want = _digest(tmp_path / f"{name}-plain")
            assert _digest(tmp_path / f"{name}-fast0") == want, name       # the first job of a serving worker
            assert _digest(tmp_path / f"{name}-fast1") == want, name       # and a later one (a fresh fork)
    finally:
        srv.close()
