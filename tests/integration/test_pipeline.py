"""`mlite run` over several models (host and loopback adb device), then `mlite report`."""
import json

import pytest
from PIL import Image

from tests.conftest import run_mlite
from tests.fixtures.loopback import isolated_adb_server, loopback_device

pytestmark = pytest.mark.slow
MODELS = "MobileNetV1_x0_25,ShuffleNetV2_x0_25,MobileNetV3_small_x0_35"
FAST = ("--threads", "1,2", "--warmup", "1", "--repeats", "3", "--weights", "random")


def _stored(out):
    """(model, backend, threads) -> avg_ms of the newest stored result."""
    latest = {}
    for f in out.rglob("bench/*.json"):
        r = json.loads(f.read_text())
        k = (r["model"], r["backend"], r["threads"])
        if k not in latest or r["timestamp"] >= latest[k][0]:
            latest[k] = (r["timestamp"], r["perf"]["avg_ms"])
    return {k: v[1] for k, v in latest.items()}


def _check_report(out, expected_rows):
    p = run_mlite("report", out, "--reference", "--format", "json", "--plot", out / "report.png")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    stored = _stored(out)
    rows = [r for t in rep["tables"] for r in t["rows"]]
    assert len(rows) == expected_rows
    for r in rows:
        for t, v in r["latency_ms"].items():
            assert v == stored[(r["model"], r["backend"], int(t))]
        if r["model"] in MODELS.split(","):
            assert r["published"]["latency_ms"]["1"] > 0 and r["top1_source"] == "published"
    assert [(f["model"], f["column"]) for f in rep["suspect_published"]] == \
        [("ShuffleNetV2_swish", "t1"), ("GhostNet_x1_3_ssld", "t2"), ("ShuffleNetV2_x0_33", "t4")]
    with Image.open(out / "report.png") as im:
        assert im.format == "PNG" and im.size == (1600, 700)
    md = run_mlite("report", out, "--reference")
    assert "| Models | backend |" in md.stdout and "time(ms) bs=1 thread=1" in md.stdout
    return rep


def test_run_int8_local_is_resumable_and_reported(tmp_path):
    out = tmp_path / "out"
    p = run_mlite("run", "--models", MODELS, "--int8", "--local", *FAST, "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    outcomes = json.loads(p.stdout)
    assert [o["model"] for o in outcomes] == MODELS.split(",")
    for o in outcomes:
        assert o["error"] is None and len(o["directories"]) == 2
        assert o["measured"] == 6 and o["reused"] == 0      # FP32: lite+ORT x 2 threads; INT8: ORT x 2
    again = json.loads(run_mlite("run", "--models", MODELS, "--int8", "--local", *FAST, "--out", out,
                                 "--json").stdout)
    assert [(o["measured"], o["reused"]) for o in again] == [(0, 6)] * 3
    rep = _check_report(out, expected_rows=9)
    int8_rows = [r for t in rep["tables"] for r in t["rows"] if r["precision"] == "int8"]
    assert len(int8_rows) == 3 and all(r["backend"] == "onnxruntime" for r in int8_rows)
    (table,) = rep["tables"]
    view = table["by_precision"]           # each model's precisions side by side, engine with each number
    assert [m["model"] for m in view["models"]] == sorted(MODELS.split(","))
    for m in view["models"]:
        cells = {(c["precision"], c["backend"]): c for c in m["precisions"]}
        assert sorted(cells) == [("fp32", "lite"), ("fp32", "onnxruntime"), ("int8", "onnxruntime")]
        assert cells[("int8", "onnxruntime")]["storage_mb"] < cells[("fp32", "onnxruntime")]["storage_mb"] / 3
        assert cells[("fp32", "lite")]["top1_engine"] == "PaddleClas" and cells[("int8", "onnxruntime")]["top1"] is None


def test_run_on_loopback_adb_device(tmp_path):
    with isolated_adb_server(), loopback_device(tmp_path / "dev", {"ro.product.model": "Loop 855"}):
        out = tmp_path / "out"
        p = run_mlite("run", "--models", MODELS, "--adb", *FAST, "--out", out, "--json")
        assert p.returncode == 0, p.stderr
        assert all(o["measured"] == 2 for o in json.loads(p.stdout))
        rep = _check_report(out, expected_rows=3)
        assert rep["tables"][0]["device"]["model"] == "Loop 855"


def test_run_continues_past_a_failing_model(tmp_path):
    from tests.fixtures.http_mirror import save_state
    from toolkit import zoo
    spec = zoo.get("MobileNetV1_x0_25")
    w = save_state(spec.module, spec.arch, tmp_path / "v1.pdparams")
    p = run_mlite("run", "--models", "ShuffleNetV2_x0_25,MobileNetV1_x0_25", "--local", "--threads", "1",
                  "--warmup", "1", "--repeats", "2", "--weights", w, "--out", tmp_path / "out")
    assert p.returncode == 1
    assert "ShuffleNetV2_x0_25" in p.stdout and "FAILED" in p.stdout and "do not match" in p.stdout
    assert "MobileNetV1_x0_25" in p.stdout and "2 run(s) measured" in p.stdout
    assert p.stderr.strip().splitlines()[-1] == "mlite: error: 1 of 2 model(s) failed: ShuffleNetV2_x0_25"


def test_run_needs_one_selection_and_one_place(tmp_path):
    p = run_mlite("run", "--models", "MobileNetV1_x0_25", "--all", "--local")
    assert p.returncode != 0 and "exactly one of --models" in p.stderr
    p = run_mlite("run", "--family", "LeNet", "--local")
    assert p.returncode != 0 and "unknown --family 'LeNet'" in p.stderr
    p = run_mlite("run", "--family", "GhostNet")
    assert p.returncode != 0 and "--adb (phones), --ssh USER@HOST (ARM boards) or --local" in p.stderr
