"""Real Paddle -> Paddle Lite / paddle2onnx / onnxsim / ONNX Runtime exports, one model per family."""
import json

import numpy as np
import pytest

from tests.conftest import run_mlite
from toolkit.artifacts import sha256_file

pytestmark = pytest.mark.slow

# Smallest model of each family, plus the swish variant (its own compat fix).
FAMILY_MODELS = {
    "MobileNetV1_x0_25": {"flatten_contiguous_range"},
    "MobileNetV2_x0_25": {"relu6", "flatten_contiguous_range"},
    "MobileNetV3_small_x0_35": {"flatten_contiguous_range"},
    "ShuffleNetV2_x0_25": {"flatten_contiguous_range", "transpose2"},
    "GhostNet_x0_5": set(),                      # squeeze2 instead of flatten: nothing to fix
}


def _manifest(d):
    return json.loads((d / "manifest.json").read_text())


@pytest.mark.parametrize("model", sorted(FAMILY_MODELS))
def test_x86_and_onnx_export_with_parity(model, tmp_path):
    p = run_mlite("export", "--model", model, "--weights", "random", "--target", "x86", "--onnx",
                  "--out", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    d = tmp_path / model
    m = _manifest(d)
    assert res["fp32"]["manifest"] == m and not res["fp32"]["cached"] and res["int8"] is None
    assert sorted(a["path"] for a in m["artifacts"]) == sorted(
        ["inference.pdmodel", "inference.pdiparams", f"{model}.nb", f"{model}.onnx"])
    for a in m["artifacts"]:
        f = d / a["path"]
        assert f.stat().st_size == a["bytes"] > 0 and sha256_file(f) == a["sha256"]
        assert {"path", "format", "target", "bytes", "sha256"} <= set(a)
    assert next(a for a in m["artifacts"] if a["format"] == "paddle-lite-nb")["target"] == "x86"
    assert {c["backend"] for c in m["parity"]} == {"paddle-lite-x86", "onnxruntime"}
    for c in m["parity"]:
        assert c["ok"] and c["relative"] <= 1e-4 and c["top1_match"], c
    assert FAMILY_MODELS[model] <= set(m["compat_fixes"])
    assert m["graph_simplified"]["strip_unread_attrs"] > 0
    if model.startswith("ShuffleNetV2"):
        # the channel shuffle's shape arithmetic folds away and Lite fuses the shuffle into one op
        assert m["graph_simplified"]["fold_reshape_shapes"] == 32 and m["graph_simplified"]["prune_dead_ops"] == 144
        nb = (d / f"{model}.nb").read_bytes()
        assert nb.count(b"shuffle_channel") >= 16 and b"fill_constant" not in nb and b"transpose2" not in nb
    assert m["weights"]["kind"] == "random" and "latency/size only" in m["weights"]["label"]
    assert m["tools"]["paddlelite"] == "2.13rc0" and m["tools"]["paddle2onnx"] == "1.3.1"
    assert m["onnx"]["simplified"] and m["onnx"]["opset"] >= 13
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".")]


def test_outputs_agree_across_runtimes_independently(tmp_path):
    """Re-run the exported artifacts here (not trusting the manifest) on a new input."""
    from converters import lite, onnx as onnx_conv
    from toolkit import parity
    model = "MobileNetV2_x0_25"
    assert run_mlite("export", "--model", model, "--weights", "random", "--seed", "3", "--target", "x86",
                     "--onnx", "--out", tmp_path).returncode == 0
    d = tmp_path / model
    x = np.random.RandomState(99).uniform(-2, 2, (1, 3, 224, 224)).astype("float32")
    ref = parity.paddle_reference(d / "inference.pdmodel", d / "inference.pdiparams", x)
    assert ref.shape == (1, 1000)
    for out in (lite.run_on_host(d / f"{model}.nb", x), onnx_conv.run_onnxruntime(d / f"{model}.onnx", x)):
        assert np.max(np.abs(out - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_default_arm_export_verifies_the_arm_nb_or_an_x86_twin_and_is_cached(tmp_path):
    from toolkit import runners
    model = "ShuffleNetV2_swish"
    p = run_mlite("export", "--model", model, "--weights", "random", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(f"{model}.nb" in ln and " MB " in ln and ln.rstrip().endswith(" s") for ln in lines), p.stdout
    assert lines[-1] == f"next: mlite push --adb --model-dir {tmp_path / model}"
    m = _manifest(tmp_path / model)
    assert m["settings"]["target"] == "arm" and m["compat_fixes"].get("swish", 0) > 0
    # on ARM kernels when this host runs the ARM runner (CI: qemu-user), else on an x86 twin
    engine = "paddle-lite-arm v2.13-rc" if runners.host_arm_runner() else "paddle-lite-x86 (verification build)"
    assert m["parity"][0]["backend"].startswith(engine) and m["parity"][0]["ok"], m["parity"]
    assert m["verified_on"]["nb"] == m["parity"][0]["backend"]
    nb = tmp_path / model / f"{model}.nb"
    mtime = nb.stat().st_mtime_ns
    again = run_mlite("export", "--model", model, "--weights", "random", "--out", tmp_path)
    assert again.returncode == 0 and "cached" in again.stdout
    assert nb.stat().st_mtime_ns == mtime
    twin = run_mlite("export", "--model", model, "--weights", "random", "--out", tmp_path,
                     env={"MLITE_ARM_RUNNER": "none"})
    assert twin.returncode == 0, twin.stderr
    assert ("cached" in twin.stdout) == engine.startswith("paddle-lite-x86")   # another verifier: not the same result
    m = _manifest(tmp_path / model)
    assert m["parity"][0]["backend"] == "paddle-lite-x86 (verification build)" and m["parity"][0]["ok"]
    assert "the ARM .nb itself was not executed" in m["verified_on"]["note"]
    other_seed = run_mlite("export", "--model", model, "--weights", "random", "--seed", "1", "--out", tmp_path)
    assert other_seed.returncode == 0 and "cached" not in other_seed.stdout
    assert _manifest(tmp_path / model)["weights"]["seed"] == 1


def test_pretrained_download_through_a_mirror(tmp_path, mlite_home):
    from tests.fixtures.http_mirror import save_state, serve_directory
    from toolkit import zoo
    spec = zoo.get("MobileNetV3_small_x0_35_ssld")
    site = tmp_path / "site"
    src = save_state(spec.module, spec.arch,
                     site / "dygraph/legendary_models/MobileNetV3_small_x0_35_ssld_pretrained.pdparams")
    with serve_directory(site) as url:
        p = run_mlite("export", "--model", spec.name, "--target", "x86", "--out", tmp_path / "out",
                      env={"MLITE_WEIGHTS_MIRROR": url})
    assert p.returncode == 0, p.stderr
    m = _manifest(tmp_path / "out" / spec.name)
    assert m["weights"]["kind"] == "pretrained" and m["weights"]["sha256"] == sha256_file(src)
    assert m["weights"]["url"].endswith("_ssld_pretrained.pdparams")
    assert (mlite_home / "weights" / src.name).is_file()


def test_local_weights_file_changes_the_output(tmp_path):
    from tests.fixtures.http_mirror import save_state
    from toolkit import zoo
    spec = zoo.get("MobileNetV1_x0_25")
    f = save_state(spec.module, spec.arch, tmp_path / "mine.pdparams", seed=5)
    p = run_mlite("export", "--model", spec.name, "--weights", f, "--target", "x86", "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    m = _manifest(tmp_path / "o" / spec.name)
    assert m["weights"]["kind"] == "file" and m["weights"]["sha256"] == sha256_file(f)
    assert "random" not in m["weights"]["label"]
