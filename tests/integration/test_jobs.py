"""`mlite run --jobs N` (#16): exports and INT8 in worker processes give the same bytes as one process."""
import json
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow
# four models: with --jobs 1 one process makes all the exports, so a name that counts earlier exports in the
# process (Paddle's save_infer_model/scale_0.tmp_N) differs from the workers' (each makes two)
MODELS = "MobileNetV1_x0_25,ShuffleNetV2_x0_25,MobileNetV3_small_x0_35,MobileNetV2_x0_25"
ARGS = ("run", "--models", MODELS, "--int8", "--weights", "random", "--local",
        "--threads", "1", "--warmup", "0", "--repeats", "1", "--json")
TIMINGS = ("timings_s", "quant_seconds")


def _manifest(path: Path, root: Path):
    """A manifest without its timings, with the output root's path made neutral."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k not in TIMINGS}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x.replace(str(root.resolve()), "OUT") if isinstance(x, str) else x
    return clean(json.loads(path.read_text()))


def _artifacts(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*"))
            if f.is_file() and "bench" not in f.relative_to(root).parts and f.name != "manifest.json"}


def test_parallel_and_serial_runs_write_the_same_bytes(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    p1 = run_mlite(*ARGS, "--jobs", "1", "--out", serial)
    p2 = run_mlite(*ARGS, "--jobs", "2", "--out", parallel)
    assert p1.returncode == 0 and p2.returncode == 0, p1.stderr + p2.stderr
    for o1, o2 in zip(json.loads(p1.stdout), json.loads(p2.stdout)):
        assert o1["model"] == o2["model"] and o1["error"] is None and o2["error"] is None
        assert o1["measured"] == o2["measured"] == 3            # FP32: Lite + ORT, INT8: ORT
    a, b = _artifacts(serial), _artifacts(parallel)
    assert sorted(a) == sorted(b)
    kinds = {k: [f for f in a if f.endswith(k)] for k in (".nb", ".pdmodel", ".onnx")}
    # x86 .nb of each FP32 export, ARM .nb of each INT8, both programs, FP32 and QDQ ONNX
    assert [len(kinds[k]) for k in (".nb", ".pdmodel", ".onnx")] == [8, 8, 8], kinds
    assert [f for f in a if a[f] != b[f]] == []
    for m in sorted(serial.glob("*/manifest.json")):
        assert _manifest(m, serial) == _manifest(parallel / m.parent.name / "manifest.json", parallel), m.parent.name
    assert len(list(serial.glob("*/manifest.json"))) == 8


def test_bad_jobs_is_one_line(tmp_path):
    assert_one_line_error(run_mlite("run", "--models", "MobileNetV1_x0_25", "--local", "--jobs", "0",
                                    "--out", tmp_path), "--jobs 0")
