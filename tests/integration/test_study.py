"""`mlite study` pieces on this host: graph statistics against PaddleClas's published numbers, the data
split, argument errors, and a small local study (the full SSH-board study is in test_ssh.py)."""
import json

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow


def test_graph_stats_match_the_published_flops_and_params(tmp_path):
    from converters.graph_stats import stats
    from toolkit import api, zoo
    for name in ("MobileNetV3_small_x1_0", "ShuffleNetV2_x0_5"):
        res = api.export(name, weights="random", target="x86", out=tmp_path, progress=False)
        g = stats(res.fp32.directory / "inference.pdmodel")
        ref = zoo.get(name).reference
        assert g.flops_g == pytest.approx(ref.flops_g, rel=0.05), name
        assert g.params / 1e6 == pytest.approx(ref.params_m, rel=0.015), name   # published: 2 decimals
        first_conv_out = 1 * 16 * 112 * 112 * 4 if name.startswith("MobileNetV3") else 1 * 24 * 112 * 112 * 4
        assert first_conv_out <= g.activation_peak_bytes < g.activation_total_bytes


def test_split_is_stratified_deterministic_and_every_class_is_on_both_sides(tmp_path):
    from tests.fixtures.digits import write_digits
    from toolkit.study import StudyConfig, split_data
    train, _test = write_digits(tmp_path / "d")
    cfg = StudyConfig(data=train, models=[], out=tmp_path / "out", val_split=0.25, image_size=32)
    a_train, a_val, classes, rec = split_data(cfg)
    b_train, b_val, _, rec2 = split_data(cfg)
    assert (a_train, a_val, rec) == (b_train, b_val, rec2) and classes == [str(c) for c in range(10)]
    for c in range(10):
        n_val = len(list((a_val / str(c)).iterdir()))
        n_train = len(list((a_train / str(c)).iterdir()))
        assert n_val >= 1 and n_train >= 1 and abs(n_val / (n_val + n_train) - 0.25) < 0.05
    names = lambda d: {p.name for p in d.rglob("*.png")}  # noqa: E731
    assert not names(a_train) & names(a_val) and rec["train_images"] + rec["val_images"] == len(names(train))


@pytest.mark.parametrize("args, needle", [
    (["--precision", "fp8"], "--precision fp8: choose from fp32, fp16, int8"),
    (["--precision", "fp32,fp16"], "--precision fp16 on localhost"),
    (["--device", "phone"], "--device 'phone': use local"),
    (["--val-split", "1.5"], "--val-split 1.5 must be between 0 and 1"),
    (["--backends", "tflite"], "--backends tflite: available here: lite, ncnn"),
    (["--preset", "paper"], "unknown --preset 'paper'"),
    (["--models", "MobileNetV4"], "unknown model 'MobileNetV4'"),
    (["--image-size", "8"], "--image-size 8 must be between 16 and 1024"),
])
def test_study_argument_errors_are_one_line(tmp_path, args, needle):
    base = {"--models": "MobileNetV3_small_x0_35", "--data": str(tmp_path)}
    for k in ("--models", "--preset"):
        if k in args:
            base.pop("--models")
    argv = [x for kv in base.items() for x in kv] + args
    assert_one_line_error(run_mlite("study", *argv, "--out", tmp_path / "o"), needle)


def test_study_needs_class_folders(tmp_path):
    from PIL import Image
    (tmp_path / "flat").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "flat" / f"{i}.png")
    p = run_mlite("study", "--data", tmp_path / "flat", "--models", "ShuffleNetV2_x0_25", "--out", tmp_path / "o")
    assert_one_line_error(p, "has no labels: use one sub-folder per class")


def test_a_local_study_measures_fp32_with_lite_and_int8_with_onnxruntime(digits, tmp_path):
    out = tmp_path / "study"
    p = run_mlite("study", "--data", digits.train, "--val", digits.test, "--models", "ShuffleNetV2_x0_25",
                  "--epochs", 1, "--image-size", 32, "--precision", "fp32,int8", "--weights", "random",
                  "--threads", "1", "--warmup", 1, "--repeats", 3, "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    fp32, int8 = res["rows"]
    assert res["split"]["kind"] == "folders" and res["split"]["val_images"] == 539
    assert set(fp32["latency_ms"]) == {"lite"} and set(int8["latency_ms"]) == {"onnxruntime"}
    assert fp32["init"] == int8["init"] == "scratch" and "--weights random" in fp32["init_note"]
    assert int8["top1_engine"] == "onnxruntime" and fp32["device_top1"] is None and not res["emulated"]
    assert res["caption"].startswith("Study on ")
