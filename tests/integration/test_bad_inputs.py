"""An outsider's inputs to study, eval and run (reliability round 3): class folders as people name them,
relative paths, empty selections. Each case either works (with the labels it should have) or is one line
with exit 2; never an internal error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow
FAST = ("--threads", "1", "--warmup", "0", "--repeats", "1")


def _images(root: Path, classes, per_class: int = 6, nested: bool = False) -> Path:
    """Tiny class folders whose colour says the class; ``nested``: files of the same name in two sub-folders."""
    from PIL import Image
    for k, c in enumerate(classes):
        for i in range(per_class):
            sub = root / c / (f"s{i % 2}" if nested else "")
            sub.mkdir(parents=True, exist_ok=True)
            name = f"{i // 2}.png" if nested else f"{i}.png"
            Image.new("RGB", (36, 36), (40 * k % 256, 255 - 60 * k % 256, (i * 30) % 256)).save(sub / name)
    return root


@pytest.mark.parametrize("cmd, args, needle", [
    ("run", ["--local", "--models", ","], "--models ',' names no model"),
    ("study", ["--models", " , "], "--models ' , ' names no model"),
    ("run", ["--local", "--models", "MobileNetV1_x0_25", "--threads", ""], "--threads '' names no value"),
    ("study", ["--models", "MobileNetV1_x0_25", "--precision", ""], "--precision : choose from"),
])
def test_empty_selections_are_one_line(tmp_path, cmd, args, needle):
    data = ["--data", str(_images(tmp_path / "d", ["a", "b"], 2))] if cmd == "study" else []
    p = run_mlite(cmd, *data, *args, "--out", tmp_path / "o")
    assert p.returncode == 2, p.stderr
    assert_one_line_error(p, needle)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_study_on_numbered_class_folders_trains_evaluates_and_records_the_names(tmp_path):
    """Folders 0, 1, 2, 10 (nested, same file names in two sub-folders): an IndexError / label 10 for a 4-class
    head before; now labels 0..3, the names recorded, and eval of the study's model maps folders by them."""
    data = _images(tmp_path / "data", ["0", "1", "2", "10"], per_class=8, nested=True)
    out = tmp_path / "study"
    p = run_mlite("study", "--data", data, "--models", "ShuffleNetV2_x0_25", "--weights", "random", "--epochs", "1",
                  "--image-size", "32", *FAST, "--out", out, "--json", timeout=900)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    (row,) = res["rows"]
    assert row["error"] is None and res["split"]["class_names"] == ["0", "1", "2", "10"]
    assert res["split"]["train_images"] + res["split"]["val_images"] == 32      # no two files collided
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".split-*"))
    d = Path(row["directory"])
    m = json.loads((d / "manifest.json").read_text())
    assert m["class_names"] == ["0", "1", "2", "10"] and m["num_classes"] == 4
    weights = Path(m["weights"]["path"])
    assert weights.with_name(weights.name.replace(".pdparams", ".classes.txt")).read_text().split() == m["class_names"]
    # eval of the same model on the same val split, from another directory, with a relative --data
    val = Path(res["split"]["directory"]) / "val"
    p = run_mlite("eval", "--model-dir", d, "--data", Path("..") / val.relative_to(tmp_path), "--json",
                  cwd=tmp_path / "data")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["top1"] == pytest.approx(row["top1"])
    # a folder the model was not trained on is named, not silently given label 4 or an id
    _images(tmp_path / "val2", ["0", "3"], per_class=1)
    assert_one_line_error(run_mlite("eval", "--model-dir", d, "--data", tmp_path / "val2"),
                          "'3' are not among the 4 classes the model was trained on")


def test_study_needs_two_classes(tmp_path):
    data = _images(tmp_path / "d", ["only"], 4)
    assert_one_line_error(run_mlite("study", "--data", data, "--models", "ShuffleNetV2_x0_25", "--out", tmp_path / "o"),
                          "has one class folder ('only')", "at least two classes")


def test_eval_with_relative_data_and_labels(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--target", "x86", "--out",
                  tmp_path / "m", env={"MLITE_ARM_RUNNER": "none"})
    assert p.returncode == 0, p.stderr
    _images(tmp_path / "val", ["0", "1"], 2, nested=True)
    (tmp_path / "list.txt").write_text("0/s0/0.png 0\n1/s1/0.png 1\n")
    p = run_mlite("eval", "--model-dir", "m/MobileNetV1_x0_25", "--data", "val/", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["images"] == 4 and any("random weights" in w for w in r["warnings"])
    p = run_mlite("eval", "--model-dir", "m/MobileNetV1_x0_25", "--data", "val", "--labels", "list.txt", "--json",
                  cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["images"] == 2


def test_a_diverged_fine_tune_is_named_with_what_to_try(tmp_path):
    data = _images(tmp_path / "d", ["a", "b", "c"], per_class=6)
    p = run_mlite("study", "--data", data, "--models", "MobileNetV3_small_x0_35", "--weights", "random", "--image-size",
                  "32", "--lr", "1000", *FAST, "--out", tmp_path / "o", "--json")
    assert p.returncode == 1
    (row,) = json.loads(p.stdout)["rows"]
    assert "diverged" in row["error"] and "lower --lr (now 1000" in row["error"] and "nothing was saved" in row["error"]
    assert not list((tmp_path / "o").rglob("*.pdparams"))


def test_weights_that_compute_nan_inside_are_named_not_blamed_on_the_converter(tmp_path):
    """A BatchNorm variance below zero: NaN after it, which the next ReLU turns into 0 in Paddle (its output
    looks finite) while ONNX Runtime keeps NaN; the export names the layer instead of a converter mismatch."""
    from toolkit import weights as weights_mod, zoo
    from toolkit.export import build_model
    from toolkit.paddle_env import import_paddle
    paddle = import_paddle()
    model, _ = build_model(zoo.get("MobileNetV1_x0_25"), weights_mod.Weights("random"))
    state = model.state_dict()
    var = next(k for k in state if k.endswith("_variance"))
    state[var] = paddle.full_like(state[var], -1.0)
    w = tmp_path / "broken.pdparams"
    paddle.save(state, str(w))
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", w, "--target", "x86", "--onnx", "--out",
                  tmp_path / "o", env={"MLITE_ARM_RUNNER": "none"})
    assert_one_line_error(p, "compute NaN inside the network", "outputs NaN", "diverged", "nothing was written")
    assert not (tmp_path / "o" / "MobileNetV1_x0_25").exists()


def test_eval_says_when_the_runtime_gives_nan(tmp_path):
    """A runtime that returns NaN for some images (Paddle Lite's FP16 kernels on MobileNetV3 at 32 px do) is
    said with the count, not left to a chance-level top-1."""
    import onnx
    from onnx import TensorProto, helper
    d = tmp_path / "m"
    d.mkdir()
    # logits = sqrt(mean over pixels - 0.5 per channel): NaN wherever a channel's mean is below 0.5
    g = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Reshape", ["p", "shape"], ["f"]),
         helper.make_node("Sub", ["f", "half"], ["c"]),
         helper.make_node("Sqrt", ["c"], ["y"])],
        "nan", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3]),
         helper.make_tensor("half", TensorProto.FLOAT, [1], [0.5])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8                          # what the pinned ONNX Runtime reads
    onnx.save(model, str(d / "m.onnx"))
    data = _images(tmp_path / "val", ["0", "1", "2"], per_class=2)
    p = run_mlite("eval", "--model-dir", d, "--data", data, "--backend", "onnxruntime", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["non_finite_images"] == 6 and any("6 of 6 images gave NaN/inf" in w for w in r["warnings"]), r
