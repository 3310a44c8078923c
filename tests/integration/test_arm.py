"""ARM truth: the ARM .nb files run on Paddle Lite's ARM kernels — our static runner, under qemu-user here,
pushed through the real adb to an arm64 loopback phone; parity and accuracy on the device runtime."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_mlite
from tests.fixtures.arm import RUNNER, why_no_arm
from tests.fixtures.loopback import ARM64_SD855, loopback_device

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ARM_PHONE = ARM64_SD855
FAST = ("--warmup", "1", "--repeats", "3")


@pytest.fixture(scope="module", autouse=True)
def arm_host():
    why = why_no_arm()
    if why is not None:
        if os.geteuid() != 0:
            pytest.skip(f"ARM tests need the static runner and qemu-user binfmt (root): {why}")
        pytest.fail(why)


@pytest.fixture
def phone(adb_server, tmp_path):
    with loopback_device(tmp_path / "phone", ARM_PHONE) as d:
        yield d


@pytest.fixture(scope="module")
def arm_models(tmp_path_factory):
    """FP32 + INT8 ARM exports (random weights) of the two acceptance models."""
    out = tmp_path_factory.mktemp("arm_models")
    manifests = {}
    for name in ("MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25"):
        p = run_mlite("export", "--model", name, "--weights", "random", "--int8", "--out", out, "--json")
        assert p.returncode == 0, p.stderr
        res = json.loads(p.stdout)
        manifests[name], manifests[f"{name}_int8"] = res["fp32"]["manifest"], res["int8"]["manifest"]
    return out, manifests


def test_runner_is_one_static_aarch64_file():
    desc = subprocess.run(["file", "-b", str(RUNNER)], capture_output=True, text=True).stdout
    assert "ARM aarch64" in desc and "statically linked" in desc, desc
    h = subprocess.run([str(RUNNER), "--help"], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0 and "--optimized_model_file" in h.stdout and "--batch" in h.stdout
    v = subprocess.run([str(RUNNER), "--version"], capture_output=True, text=True, timeout=60)
    assert "Paddle Lite version: v2.13-rc" in v.stdout


def test_exports_are_verified_on_arm_kernels(arm_models):
    _out, m = arm_models
    for name in ("MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25"):
        (check, *_rest) = m[name]["parity"]
        assert check["backend"].startswith("paddle-lite-arm v2.13-rc") and "emulated" in check["backend"]
        assert check["relative"] <= 1e-4 and check["ok"], check
        assert m[name]["verified_on"]["nb"] == check["backend"]
        checks = m[f"{name}_int8"]["checks"]
        assert checks["lite_arm"].startswith("paddle-lite-arm v2.13-rc")
        # the INT8 .nb on ARM kernels against Paddle's simulated INT8 and FP32, on 8 fixed inputs
        assert checks["lite_arm_int8_vs_paddle_int8"]["top1_agreement"] >= 0.75, checks
        assert checks["lite_arm_int8_vs_paddle_int8"]["mean_rel_diff"] < 0.2, checks
        assert 0 <= checks["lite_arm_int8_vs_fp32"]["top1_agreement"] <= 1


def test_runner_batch_mode_writes_one_output_per_input(arm_models, tmp_path):
    import numpy as np
    out, _m = arm_models
    nb = out / "MobileNetV3_small_x0_35" / "MobileNetV3_small_x0_35.nb"
    x = np.random.RandomState(0).standard_normal((3, 3, 224, 224)).astype("<f4")
    (tmp_path / "in.f32").write_bytes(x.tobytes())
    p = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}", "--input_file", str(tmp_path / "in.f32"),
                        f"--output_file={tmp_path / 'out.f32'}", "--batch=3", "--warmup=0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    y = np.fromfile(tmp_path / "out.f32", dtype="<f4").reshape(3, -1)
    assert y.shape == (3, 1000) and np.all(np.isfinite(y))
    assert not np.allclose(y[0], y[1])                 # each input ran, in order
    single = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}", "--input_file", str(tmp_path / "in.f32"),
                             "--batch=3", "--warmup=0", "--threads=2"], capture_output=True, text=True, timeout=300)
    assert "Emulated: yes" in single.stdout and "Memory Usage(unit: MB):" in single.stdout
    assert "raw   = " in single.stdout and single.stdout.count(",") >= 2
    # one input through --input_file alone, 2 threads: the same output as in the batch
    (tmp_path / "one.f32").write_bytes(x[1].tobytes())
    p = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}", f"--input_file={tmp_path / 'one.f32'}",
                        f"--output_file={tmp_path / 'one_out.f32'}", "--threads=2", "--repeats=2", "--warmup=0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    np.testing.assert_allclose(np.fromfile(tmp_path / "one_out.f32", dtype="<f4"), y[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("argv,needle", [
    (["--repeats=0"], "--repeats"),
    (["--cpu_precision=fp16"], "fp32"),
    (["--bogus=1"], "unknown flag --bogus"),
    (["--batch=2"], "--batch needs --input_file"),
])
def test_runner_bad_flags_give_one_line(arm_models, argv, needle):
    out, _m = arm_models
    nb = out / "ShuffleNetV2_x0_25" / "ShuffleNetV2_x0_25.nb"
    p = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}", *argv], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def _other_version_copy(src_dir: Path, dest: Path) -> Path:
    shutil.copytree(src_dir, dest)
    nb = next(dest.glob("*.nb"))
    data = bytearray(nb.read_bytes())
    data[2:18] = b"v2.12".ljust(16, b"\0")
    nb.write_bytes(bytes(data))
    # a .nb that another opt version wrote and its manifest records (a changed, unrecorded file is refused earlier)
    m = json.loads((dest / "manifest.json").read_text())
    for a in m["artifacts"]:
        if a["path"] == nb.name:
            a["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(m))
    return dest


def test_nb_of_another_opt_version_is_refused_before_running(arm_models, phone, tmp_path):
    out, _m = arm_models
    model = _other_version_copy(out / "ShuffleNetV2_x0_25", tmp_path / "old")
    nb = next(model.glob("*.nb"))
    p = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "written by Paddle Lite opt v2.12" in p.stderr and "v2.13-rc" in p.stderr
    p = run_mlite("push", "--adb", "--model-dir", model, "--threads", "1", *FAST)
    assert_one_line_error(p, "opt v2.12", "Paddle Lite v2.13-rc")
    assert not list((model / "bench").glob("*.json")) if (model / "bench").exists() else True
    assert [f for f in phone.root.rglob("*") if f.is_file() and ".adbd-bin" not in f.parts] == []


def test_arm64_phone_benchmarks_fp32_and_int8_with_the_static_runner(arm_models, phone):
    out, _m = arm_models
    row = json.loads(run_mlite("devices", "--json").stdout)[0]
    assert row["abi"] == "arm64-v8a" and row["soc_name"] == "Snapdragon 855"
    assert "arm64-v8a" in run_mlite("devices").stdout
    for name in ("MobileNetV3_small_x0_35", "MobileNetV3_small_x0_35_int8", "ShuffleNetV2_x0_25",
                 "ShuffleNetV2_x0_25_int8"):
        p = run_mlite("push", "--adb", "--model-dir", out / name, "--threads", "1,2", *FAST, "--json")
        assert p.returncode == 0, p.stderr
        (run,) = json.loads(p.stdout)
        assert run["error"] is None and [r["threads"] for r in run["results"]] == [1, 2]
        for r in run["results"]:
            perf = r["perf"]
            assert r["backend"] == "arm" and r["emulated"] is True
            assert r["runner"]["path"] == str(RUNNER) and r["runner"]["lite_version"] == "v2.13-rc"
            assert 0 < perf["min_ms"] <= perf["avg_ms"] <= perf["max_ms"] and len(perf["raw_ms"]) == 3
            assert perf["memory_mb"]["peak"] >= perf["memory_mb"]["init"] > 1
            assert r["precision"] == ("int8" if name.endswith("_int8") else "fp32")
            assert r["storage_bytes"] == (out / name / f"{name}.nb").stat().st_size
        assert len(list((out / name / "bench").glob("*.json"))) == 2
    assert [f for f in phone.root.rglob("*") if f.is_file() and ".adbd-bin" not in f.parts] == []
    rep = run_mlite("report", out)
    assert rep.returncode == 0, rep.stderr
    assert "emulated CPU (qemu-user): not a phone latency" in rep.stdout


def test_digits_int8_accuracy_on_the_phone_runtime(digits, digits_export, phone):
    out, res = digits_export
    fp32 = res["fp32"]["manifest"]
    assert fp32["parity"][0]["backend"].startswith("paddle-lite-arm") and fp32["parity"][0]["relative"] <= 1e-4
    int8_dir = out / "MobileNetV3_small_x0_35_int8"
    p = run_mlite("eval", "--model-dir", int8_dir, "--data", digits.test, "--device", phone.serial,
                  "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["backend"] == "paddle-lite-arm" and r["images"] == 539 and r["device"]["serial"] == phone.serial
    assert r["device"]["abi"] == "arm64-v8a" and r["device"]["emulated"] is True
    assert r["engine"].startswith("paddle-lite-arm v2.13-rc")
    assert r["fp32_top1"] - r["top1"] <= 0.01, r            # INT8 on ARM kernels within 1 point of FP32
    assert r["host_backend"] == "paddle" and r["host_agreement"] >= 0.98, r
    stored = json.loads((int8_dir / "manifest.json").read_text())["eval"]
    assert any(e["backend"] == "paddle-lite-arm" and e["top1"] == r["top1"] for e in stored)
    # the FP32 .nb on the same images, on this host's ARM runtime
    p = run_mlite("eval", "--model-dir", out / "MobileNetV3_small_x0_35", "--data", digits.test, "--device", "local",
                  "--json")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["top1"] == pytest.approx(r["fp32_top1"]) and f["host_agreement"] == 1.0, f
