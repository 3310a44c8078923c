"""Session fixtures for integration tests: the digits model is trained once per test session, the x86
loopback model exported once."""
import json

import pytest

from tests.conftest import run_mlite


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from tests.fixtures.digits import train_digits
    return train_digits(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="session")
def digits_export(digits, tmp_path_factory):
    """FP32 + INT8 (PTQ, default algo hist, 200 calibration images) exports of the digits model, with ONNX."""
    out = tmp_path_factory.mktemp("digits_out")
    p = run_mlite("export", "--model", "MobileNetV3_small_x0_35", "--weights", digits.weights, "--image-size", 32,
                  "--int8", "--calib", digits.train, "--calib-size", 200, "--onnx", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


@pytest.fixture(scope="session")
def x86_model(tmp_path_factory):
    """MobileNetV1_x0_25, random weights, as an x86 .nb (+ ONNX): what x86 loopback phones run."""
    out = tmp_path_factory.mktemp("models")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--target", "x86", "--onnx",
                  "--out", out)
    assert p.returncode == 0, p.stderr
    return out / "MobileNetV1_x0_25"


@pytest.fixture(scope="module")
def adb_server():
    """A private adb server for one test module (the real Debian adb client); yields its port."""
    import shutil
    from tests.fixtures.loopback import isolated_adb_server
    if shutil.which("adb") is None:
        pytest.fail("Debian's adb is not installed; 'make install' installs it")
    with isolated_adb_server() as port:
        yield port
