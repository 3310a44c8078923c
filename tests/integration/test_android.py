"""`mlite package --android` and the Android parity fixtures."""
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PARITY = REPO / "android_demo/app/src/test/resources/parity"


def test_committed_parity_fixtures_match_python_preprocessing(tmp_path):
    """The Java tests compare against these files; they must be what mlite's Python computes today."""
    from tests.fixtures.android_parity import generate
    generate(tmp_path)
    for name in ("config.json", "tensor.f32", "logits.txt", "top5.txt"):
        assert (tmp_path / name).read_bytes() == (PARITY / name).read_bytes(), name
    from PIL import Image
    import numpy as np
    assert np.array_equal(np.asarray(Image.open(tmp_path / "image.png")), np.asarray(Image.open(PARITY / "image.png")))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    dst = tmp_path_factory.mktemp("app") / "android_demo"
    shutil.copytree(REPO / "android_demo", dst, ignore=shutil.ignore_patterns("*.nb", "labels.txt", "config.json"))
    return dst


def test_package_writes_assets_matching_the_model(app, tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    p = run_mlite("package", "--android", "--model-dir", tmp_path / "MobileNetV1_x0_25", "--app", app,
                  "--threads", "4", "--json")
    assert p.returncode == 0, p.stderr
    assets = app / "app/src/main/assets"
    assert (assets / "model.nb").read_bytes() == (tmp_path / "MobileNetV1_x0_25/MobileNetV1_x0_25.nb").read_bytes()
    labels = (assets / "labels.txt").read_text().splitlines()
    assert len(labels) == 1000 and labels[0] == "tench, Tinca tinca" and labels[999].startswith("toilet tissue")
    cfg = json.loads((assets / "config.json").read_text())
    manifest = json.loads((tmp_path / "MobileNetV1_x0_25/manifest.json").read_text())
    assert cfg["preprocess"]["resize_short"] == manifest["preprocess"]["resize_short"] == 256
    assert cfg["preprocess"]["crop"] == 224 and cfg["threads"] == 4 and cfg["num_classes"] == 1000
    assert not [f for f in assets.iterdir() if f.name.startswith(".")]
    # the human-readable path (no --json) crashed after copying (TypeError formatting a Path)
    p = run_mlite("package", "--android", "--model-dir", tmp_path / "MobileNetV1_x0_25", "--app", app)
    assert p.returncode == 0, p.stderr
    assert "model.nb" in p.stdout and "labels.txt" in p.stdout and "Traceback" not in p.stderr


def test_package_refuses_x86_and_wrong_labels(app, tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--target", "x86", "--out", tmp_path)
    assert p.returncode == 0
    before = {f.name: f.stat().st_mtime_ns for f in (app / "app/src/main/assets").iterdir()}
    assert_one_line_error(run_mlite("package", "--android", "--model-dir", tmp_path / "MobileNetV1_x0_25", "--app", app),
                          "built for x86", "--target arm")
    assert {f.name: f.stat().st_mtime_ns for f in (app / "app/src/main/assets").iterdir()} == before
    arm = tmp_path / "arm"
    assert run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--out", arm).returncode == 0
    (tmp_path / "ten.txt").write_text("\n".join(str(i) for i in range(10)))
    assert_one_line_error(run_mlite("package", "--android", "--model-dir", arm / "MobileNetV1_x0_25", "--app", app,
                                    "--labels", tmp_path / "ten.txt"), "10 labels for a model with 1000 classes")
    assert_one_line_error(run_mlite("package", "--android", "--model-dir", arm / "MobileNetV1_x0_25", "--app", tmp_path),
                          "not the mlite Android demo")
