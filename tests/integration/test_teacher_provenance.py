"""Issue #12: a teacher directory's weights come from its manifest, never from the --teacher-weights default;
a teacher exported with random weights is refused like a zoo teacher with random weights."""
import shutil
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite

pytestmark = pytest.mark.slow
TEACHER, STUDENT, SIZE = "MobileNetV1_x0_25", "MobileNetV3_small_x0_35", 32
REFUSED = "a teacher with random weights teaches nothing"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A real Paddle inference model of a tiny 10-class teacher, without a manifest (no opt, no parity: fast)."""
    from toolkit import weights, zoo
    from toolkit.export import build_model, save_inference
    d = tmp_path_factory.mktemp("teacher") / TEACHER
    d.mkdir()
    model, _ = build_model(zoo.get(TEACHER), weights.Weights("random", seed=3), num_classes=10)
    save_inference(model, (1, 3, SIZE, SIZE), d)
    return d


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Two classes of four 32x32 PNGs."""
    import numpy as np
    from PIL import Image
    root = tmp_path_factory.mktemp("images")
    rs = np.random.RandomState(0)
    for label in range(2):
        (root / str(label)).mkdir()
        for i in range(4):
            Image.fromarray(rs.randint(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / str(label) / f"{i}.png")
    return root


def _teacher_dir(exported: Path, dest: Path, weights: dict | None) -> Path:
    """A copy of ``exported`` with a hand-written export manifest recording ``weights`` (None: no manifest)."""
    from toolkit.artifacts import Artifact, Manifest
    d = dest / TEACHER
    shutil.copytree(exported, d)
    if weights is not None:
        identity = f"random:{weights['seed']}" if weights["kind"] == "random" else f"sha256:{weights['sha256']}"
        Manifest(stage="export", model=TEACHER, key="k" * 64, settings={"weights": identity}, tools={},
                 artifacts=[Artifact.of(d, "inference.pdmodel", "paddle-program", "any"),
                            Artifact.of(d, "inference.pdiparams", "paddle-params", "any")],
                 extra={"weights": weights, "input_shape": [1, 3, SIZE, SIZE], "num_classes": 10}).write(d)
    return d


def _file_weights(sha: str = "ab" * 32) -> dict:
    return {"kind": "file", "seed": 0, "path": "/src/teacher.pdparams", "url": None, "sha256": sha,
            "label": "file weights"}


def _random_weights() -> dict:
    return {"kind": "random", "seed": 0, "path": None, "url": None, "sha256": None,
            "label": "random weights (latency/size only)"}


def _teacher_info(teacher: Path, images: Path) -> dict:
    from quant import data, ssld
    pp = data.Preprocess.for_input_size(SIZE)
    cfg = ssld.DistillConfig(student=STUDENT, teacher=str(teacher), data=images, image_size=SIZE)
    assert cfg.teacher_weights == "pretrained"          # the CLI default, which must not be recorded
    outs, info = ssld._teacher_logits(cfg, ssld._resolve_teacher(cfg), [data.open_folder(images, pp, need_labels=True)],
                                      pp)
    assert outs[0].shape == (8, 10)
    return info


def test_directory_teacher_records_its_manifest_weights(exported, images, tmp_path):
    from quant import ssld
    teacher = _teacher_dir(exported, tmp_path, _file_weights())
    info = _teacher_info(teacher, images)
    assert info["weights"] == _file_weights()
    cfg = ssld.DistillConfig(student=STUDENT, teacher=str(teacher), data=images, image_size=SIZE)
    assert ssld._resolve_teacher(cfg).identity == "sha256:" + "ab" * 32


def test_directory_without_manifest_is_unknown_with_its_model_sha256(exported, images, tmp_path):
    from quant import ssld
    from toolkit.artifacts import sha256_file
    teacher = _teacher_dir(exported, tmp_path, None)
    w = _teacher_info(teacher, images)["weights"]
    params_sha = sha256_file(teacher / "inference.pdiparams")
    assert w["kind"] == "unknown" and "unknown" in w["label"] and "pretrained" not in w["label"]
    assert w["sha256"] == params_sha and w["model_sha256"] == sha256_file(teacher / "inference.pdmodel")
    cfg = ssld.DistillConfig(student=STUDENT, teacher=str(teacher), data=images, image_size=SIZE)
    assert ssld._resolve_teacher(cfg).identity == f"sha256:{params_sha}"


def test_random_weights_teacher_directory_is_refused_like_a_zoo_teacher(exported, images, tmp_path):
    teacher = _teacher_dir(exported, tmp_path, _random_weights())
    base = ["distill", "--student", STUDENT, "--student-weights", "random", "--data", images,
            "--image-size", SIZE, "--epochs", 1, "--out", tmp_path / "o"]
    zoo_line = assert_one_line_error(run_mlite(*base, "--teacher", TEACHER, "--teacher-weights", "random"), REFUSED)
    dir_line = assert_one_line_error(run_mlite(*base, "--teacher", teacher), REFUSED, str(teacher), "--weights random")
    assert zoo_line.split(":")[:3] == dir_line.split(":")[:3]      # 'mlite: error: a teacher with random ...'


def test_distill_records_the_teacher_directory_provenance(exported, images, tmp_path):
    """The distilled manifest's teacher weights and its settings come from the teacher's manifest."""
    from quant import ssld
    teacher = _teacher_dir(exported, tmp_path, _file_weights())
    res = ssld.distill(ssld.DistillConfig(student=STUDENT, teacher=str(teacher), data=images, student_weights="random",
                                          epochs=1, batch_size=4, image_size=SIZE, out=tmp_path / "o", progress=False))
    m = res.manifest
    assert m["teacher"]["weights"] == _file_weights()
    assert m["settings"]["teacher_weights"] == "sha256:" + "ab" * 32
