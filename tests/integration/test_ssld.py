"""SSLD on packaged data: labelled 10% / unlabelled / test digits, a bigger teacher, a mobile student."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MLITE, assert_one_line_error, interruptible_mlite, run_mlite

pytestmark = pytest.mark.slow
STUDENT = "MobileNetV3_small_x0_35"


@pytest.fixture(scope="session")
def ssl(tmp_path_factory):
    from tests.fixtures.digits import semi_supervised
    return semi_supervised(tmp_path_factory.mktemp("ssl"))


def _distill(ssl, out, *extra, epochs=10):
    return run_mlite("distill", "--student", STUDENT, "--student-weights", "random", "--teacher", "MobileNetV1",
                     "--teacher-weights", ssl.teacher_weights, "--data", ssl.labelled, "--unlabeled", ssl.unlabelled,
                     "--image-size", 32, "--epochs", epochs, "--batch-size", 32, "--out", out, "--json", *extra)


@pytest.fixture(scope="session")
def distilled(ssl, tmp_path_factory):
    out = tmp_path_factory.mktemp("ssld_out")
    p = _distill(ssl, out, "--val", ssl.test)
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def test_ssld_student_beats_the_student_trained_alone(ssl, distilled, tmp_path):
    out, res = distilled
    m = res["manifest"]
    assert m["teacher"]["model"] == "MobileNetV1" and m["data"]["unlabelled"]["images"] > 1000
    assert m["data"]["labelled"]["classes"] == 10 and len(m["log"]) == 10 and m["world_size"] == 1
    weights = Path(res["weights"])
    p = run_mlite("export", "--model", STUDENT, "--weights", weights, "--image-size", 32, "--int8",
                  "--calib", ssl.unlabelled, "--calib-size", 200, "--target", "arm", "--out", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    fp32 = json.loads(run_mlite("eval", "--model-dir", tmp_path / STUDENT, "--data", ssl.test, "--json").stdout)
    gain = fp32["top1"] - ssl.student_alone_accuracy
    print(f"teacher {ssl.teacher_accuracy:.2%}  student alone {ssl.student_alone_accuracy:.2%}  "
          f"SSLD student {fp32['top1']:.2%}  gain {gain * 100:+.2f} points")
    assert gain >= 0.02, (fp32["top1"], ssl.student_alone_accuracy)
    int8 = json.loads(run_mlite("eval", "--model-dir", tmp_path / f"{STUDENT}_int8", "--data", ssl.test,
                                "--json").stdout)
    assert int8["fp32_top1"] == fp32["top1"] and fp32["top1"] - int8["top1"] <= 0.01, int8


def test_exporting_the_zoo_ssld_model_never_deletes_distilled_weights(distilled):
    """OUT/STUDENT_ssld was both distill's output and the zoo model STUDENT_ssld's export folder."""
    out, res = distilled
    weights = Path(res["weights"])
    before = weights.read_bytes()
    p = run_mlite("export", "--model", f"{STUDENT}_ssld", "--weights", "random", "--image-size", 32,
                  "--target", "x86", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    assert weights.read_bytes() == before and (weights.parent / "manifest.json").is_file()
    assert json.loads(p.stdout)["fp32"]["directory"] != str(weights.parent)


def test_rerun_is_cached(ssl, distilled):
    out, res = distilled
    again = _distill(ssl, out, "--val", ssl.test)
    assert again.returncode == 0 and json.loads(again.stdout)["cached"]


def test_interrupted_run_resumes_from_its_checkpoint(ssl, tmp_path):
    out = tmp_path / "out"
    args = [MLITE, "distill", "--student", STUDENT, "--student-weights", "random", "--teacher", "MobileNetV1",
            "--teacher-weights", str(ssl.teacher_weights), "--data", str(ssl.labelled), "--image-size", "32",
            "--epochs", "3", "--batch-size", "32", "--out", str(out), "--json"]
    proc = interruptible_mlite(args)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("distill/.*checkpoint*/state.json")):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert not (out / "distill" / f"{STUDENT}_ssld").exists()
    p = subprocess.run(args, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["manifest"]
    assert m["resumed_from_epoch"] >= 1 and len(m["log"]) == 3
    assert not list(out.glob("distill/.*checkpoint*"))


def test_data_parallel_with_two_cpu_processes(ssl, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "logs"), MLITE, "distill", "--student", STUDENT, "--student-weights", "random",
           "--teacher", "MobileNetV1", "--teacher-weights", str(ssl.teacher_weights), "--data", str(ssl.labelled),
           "--image-size", "32", "--epochs", "1", "--batch-size", "16", "--out", str(out), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    logs = "".join(f.read_text(errors="replace")[-2000:] for f in sorted((tmp_path / "logs").glob("*")) if f.is_file())
    assert p.returncode == 0, logs
    m = json.loads((out / "distill" / f"{STUDENT}_ssld" / "manifest.json").read_text())
    assert m["world_size"] == 2 and m["device"] == "cpu" and len(m["log"]) == 1


# ---- bad input ----------------------------------------------------------------------------------

def test_class_counts_differ(ssl, tmp_path):
    from tests.fixtures.http_mirror import save_state
    from toolkit import zoo
    spec = zoo.get(STUDENT)
    w = save_state(spec.module, spec.arch, tmp_path / "s1000.pdparams")     # 1000 classes, teacher has 10
    p = run_mlite("distill", "--student", STUDENT, "--student-weights", w, "--teacher", "MobileNetV1",
                  "--teacher-weights", ssl.teacher_weights, "--data", ssl.labelled, "--image-size", 32,
                  "--epochs", 1, "--out", tmp_path / "o")
    assert_one_line_error(p, "class counts differ")


def test_image_size_mismatch_with_a_teacher_directory(ssl, tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1", "--weights", ssl.teacher_weights, "--image-size", 32,
                  "--target", "x86", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    p = run_mlite("distill", "--student", STUDENT, "--student-weights", "random", "--teacher", tmp_path / "MobileNetV1",
                  "--data", ssl.labelled, "--image-size", 64, "--epochs", 1, "--out", tmp_path / "o")
    assert_one_line_error(p, "takes 32x32 images but --image-size is 64")


def test_empty_data_and_no_labels_nor_unlabelled(ssl, tmp_path):
    (tmp_path / "empty").mkdir()
    base = ["distill", "--student", STUDENT, "--student-weights", "random", "--teacher", "MobileNetV1",
            "--teacher-weights", ssl.teacher_weights, "--image-size", 32, "--epochs", 1, "--out", tmp_path / "o"]
    assert_one_line_error(run_mlite(*base, "--data", tmp_path / "empty"), "holds no images")
    assert_one_line_error(run_mlite(*base, "--data", ssl.unlabelled), "has no labels and no --unlabeled")


def test_diverging_loss_stops_with_a_message(ssl, tmp_path):
    p = run_mlite("distill", "--student", STUDENT, "--student-weights", "random", "--teacher", "MobileNetV1",
                  "--teacher-weights", ssl.teacher_weights, "--data", ssl.labelled, "--image-size", 32,
                  "--epochs", 3, "--lr", 1e6, "--out", tmp_path / "o")
    assert_one_line_error(p, "loss diverged", "lower --lr")
    assert not (tmp_path / "o" / "distill" / f"{STUDENT}_ssld").exists()
