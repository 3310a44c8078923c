"""ncnn beside Paddle Lite: Paddle -> ONNX -> ncnn (pnnx), parity with Paddle on this host's ncnn, host
benchmarks through the runner contract (the ARM side, on the SSH board, is in test_ssh.py)."""
import json

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow
PARITY_MODELS = ("MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25")


@pytest.fixture(scope="module")
def ncnn_exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("ncnn")
    for name in PARITY_MODELS:
        p = run_mlite("export", "--model", name, "--weights", "random", "--ncnn", "--out", out, "--json")
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name", PARITY_MODELS)
def test_ncnn_export_matches_paddle(ncnn_exports, name):
    m = json.loads((ncnn_exports / name / "manifest.json").read_text())
    files = {a["format"]: a for a in m["artifacts"]}
    assert {"ncnn-param", "ncnn-bin", "onnx", "paddle-lite-nb"} <= set(files)
    assert files["ncnn-bin"]["bytes"] == pytest.approx(4 * m["params"], rel=0.05)    # FP32 weights (pnnx fp16=0)
    (check,) = [c for c in m["parity"] if c["backend"].startswith("ncnn ")]
    assert check["ok"] and check["relative"] <= 1e-3 and check["top1_match"], check
    assert m["ncnn"]["pnnx"] == m["settings"]["ncnn"]["pnnx"] and m["settings"]["ncnn"]["ncnn"].startswith("1.0.")


def test_ncnn_runs_through_the_runner_contract_beside_onnxruntime(ncnn_exports):
    d = ncnn_exports / "ShuffleNetV2_x0_25"
    p = run_mlite("bench", "--local", "--model-dir", d, "--backend", "ncnn,onnxruntime", "--threads", "1,2",
                  "--warmup", 1, "--repeats", 5, "--rounds", 1, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)["results"]
    ncnn = [r for r in res if r["backend"] == "ncnn"]
    assert [r["threads"] for r in ncnn] == [1, 2]
    m = json.loads((d / "manifest.json").read_text())
    size = sum(a["bytes"] for a in m["artifacts"] if a["format"] in ("ncnn-param", "ncnn-bin"))
    for r in ncnn:
        assert r["storage_bytes"] == size and r["perf"]["avg_ms"] > 0 and r["perf"]["memory_mb"]["peak"] > 0
        assert "ncnn" in r["runner"]["version"]
    rows = json.loads(run_mlite("report", d, "--format", "json").stdout)["tables"][0]["rows"]
    assert sorted(r["backend"] for r in rows) == ["ncnn", "onnxruntime"]


def test_push_ncnn_without_ncnn_files_is_one_line(tmp_path):
    p = run_mlite("export", "--model", "ShuffleNetV2_x0_25", "--weights", "random", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    q = run_mlite("push", "--ssh", "pi@127.0.0.1:1", "--backend", "ncnn", "--model-dir", tmp_path / "ShuffleNetV2_x0_25")
    assert_one_line_error(q, "has no ncnn model: export it with --ncnn")
    r = run_mlite("bench", "--local", "--model-dir", tmp_path / "ShuffleNetV2_x0_25", "--backend", "ncnn")
    assert_one_line_error(r, "export with --ncnn")
