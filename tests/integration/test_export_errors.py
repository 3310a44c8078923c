"""Every bad input: one line, non-zero exit, no traceback, nothing half-written."""
import os
import signal
import time

import pytest

from tests.conftest import MLITE, assert_one_line_error, interruptible_mlite, run_mlite

pytestmark = pytest.mark.slow


def _no_output_dirs(out):
    return not out.exists() or not any(out.iterdir())


def test_unknown_model_suggests(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV3_smal_x1_0", "--weights", "random", "--out", tmp_path)
    assert_one_line_error(p, "unknown model", "MobileNetV3_small_x1_0")
    assert _no_output_dirs(tmp_path)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x'; touch /tmp/pwned; '"])
def test_path_like_names_are_refused(name, tmp_path):
    p = run_mlite("export", "--model", name, "--weights", "random", "--out", tmp_path / "o")
    assert_one_line_error(p, "invalid model name")
    assert not (tmp_path / "o").exists()


def test_missing_weights_file(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", tmp_path / "none.pdparams",
                  "--out", tmp_path / "o")
    assert_one_line_error(p, "does not exist")
    assert _no_output_dirs(tmp_path / "o")


def test_non_pdparams_weights(tmp_path):
    f = tmp_path / "w.onnx"
    f.write_bytes(b"\x00" * 10)
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", f, "--out", tmp_path / "o")
    assert_one_line_error(p, "not a .pdparams")


def test_garbage_pdparams(tmp_path):
    f = tmp_path / "w.pdparams"
    f.write_bytes(b"not a pickle at all")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", f, "--out", tmp_path / "o")
    assert_one_line_error(p, "not a valid .pdparams")
    assert _no_output_dirs(tmp_path / "o")


def test_shape_mismatched_weights_name_keys(tmp_path):
    from tests.fixtures.http_mirror import save_state
    from toolkit import zoo
    other = zoo.get("MobileNetV1_x0_5")
    f = save_state(other.module, other.arch, tmp_path / "x0_5.pdparams")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", f, "--out", tmp_path / "o")
    line = assert_one_line_error(p, "do not match MobileNetV1_x0_25", "mismatched keys, first:")
    assert "conv" in line or "fc" in line
    assert _no_output_dirs(tmp_path / "o")


def test_pretrained_offline(tmp_path, mlite_home):
    from tests.fixtures.http_mirror import closed_port_url
    p = run_mlite("export", "--model", "GhostNet_x0_5", "--out", tmp_path / "o",
                  env={"MLITE_WEIGHTS_MIRROR": closed_port_url()})
    assert_one_line_error(p, "cannot download pretrained weights", "--weights PATH", "--weights random")
    assert _no_output_dirs(tmp_path / "o")


def test_unknown_target(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--target", "mips",
                  "--out", tmp_path / "o")
    assert_one_line_error(p, "unknown target 'mips'", "arm", "x86")
    assert not (tmp_path / "o").exists()


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--out", blocker / "sub")
    assert_one_line_error(p, "cannot write to --out")


def test_ctrl_c_leaves_nothing_and_rerun_works(tmp_path):
    out = tmp_path / "o"
    args = [MLITE, "export", "--model", "MobileNetV2_x0_25", "--weights", "random", "--onnx", "--out", str(out)]
    proc = interruptible_mlite(args)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(p.name.startswith(".MobileNetV2_x0_25.partial")
                                                              for p in out.iterdir())):
        time.sleep(0.05)
    assert proc.poll() is None, "export finished before it could be interrupted"
    time.sleep(1.0)                     # let it get into the build / conversion
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(out.iterdir()) == []
    p = run_mlite("export", "--model", "MobileNetV2_x0_25", "--weights", "random", "--onnx", "--out", out)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["MobileNetV2_x0_25"]
