"""Session fixtures for integration tests: the digits model is trained once per test run (across
pytest-xdist workers too), the x86 loopback model exported once; each worker gets its own copy of exports."""
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import once_per_run, run_mlite


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """The trained digits model and its image folders (read-only: one copy for every worker)."""
    from tests.fixtures.digits import TrainedDigits, train_digits

    def make(work):
        t = train_digits(work)
        return {"train": str(t.train), "test": str(t.test), "weights": str(t.weights), "acc": t.held_out_accuracy}
    v = once_per_run(tmp_path_factory, "digits", make)
    return TrainedDigits(Path(v["train"]), Path(v["test"]), Path(v["weights"]), v["acc"])


def _own_copy(tmp_path_factory, shared: Path, name: str) -> Path:
    """This worker's copy of an export built once per run (tests write bench results and reruns into it)."""
    out = tmp_path_factory.mktemp(name)
    for d in shared.iterdir():
        shutil.copytree(d, out / d.name, symlinks=True)
    return out


@pytest.fixture(scope="session")
def digits_export(digits, tmp_path_factory):
    """FP32 + INT8 (PTQ, default algo hist, 200 calibration images) exports of the digits model, with ONNX."""
    def make(work):
        p = run_mlite("export", "--model", "MobileNetV3_small_x0_35", "--weights", digits.weights, "--image-size",
                      32, "--int8", "--calib", digits.train, "--calib-size", 200, "--onnx", "--out", work, "--json")
        assert p.returncode == 0, p.stderr
        return {"out": str(work), "result": p.stdout}
    v = once_per_run(tmp_path_factory, "digits_export", make)
    out = _own_copy(tmp_path_factory, Path(v["out"]), "digits_out")
    return out, json.loads(v["result"].replace(v["out"], str(out)))


@pytest.fixture(scope="session")
def x86_model(tmp_path_factory):
    """MobileNetV1_x0_25, random weights, as an x86 .nb (+ ONNX): what x86 loopback phones run."""
    def make(work):
        p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--target", "x86", "--onnx",
                      "--out", work)
        assert p.returncode == 0, p.stderr
        return str(work)
    return _own_copy(tmp_path_factory, Path(once_per_run(tmp_path_factory, "x86_model", make)), "models") \
        / "MobileNetV1_x0_25"


@pytest.fixture(scope="module")
def adb_server():
    """A private adb server for one test module (the real Debian adb client); yields its port."""
    from tests.fixtures.loopback import isolated_adb_server
    if shutil.which("adb") is None:
        pytest.fail("Debian's adb is not installed; 'make install' installs it")
    with isolated_adb_server() as port:
        yield port
