"""FP16 on Paddle Lite's ARM FP16 kernels: the armv8.2 runner (real FP16 kernels under qemu-user), baked FP16
exports checked against Paddle FP32, NaN refused, the device's CPU checked before anything is copied, a
runtime switch that Paddle Lite declines reported as FP32, and FP16 accuracy on the device runtime."""
import json
import subprocess

import pytest

from tests.conftest import assert_one_line_error, run_mlite
from tests.fixtures.arm import REPO, why_no_arm
from tests.fixtures.loopback import A53_CPUINFO, ARM64_SD855, loopback_device

pytestmark = pytest.mark.slow
FP16_RUNNER = REPO / "build" / "arm" / "mlite-arm-runner-fp16"
RUNNER = REPO / "build" / "arm" / "mlite-arm-runner"
ARM_PHONE = ARM64_SD855
A53_PHONE = {"ro.product.model": "Redmi Note 4", "ro.product.cpu.abi": "arm64-v8a", "ro.board.platform": "msm8953",
             "ro.soc.model": "MSM8953"}
FAST = ("--warmup", "1", "--repeats", "2")


@pytest.fixture(scope="module", autouse=True)
def arm_host():
    why = why_no_arm()
    if why is not None:
        pytest.fail(why)


@pytest.fixture(scope="module")
def fp16_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("fp16")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--precision", "fp32,fp16",
                  "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def test_two_static_runners_and_the_fp16_one_says_what_it_has():
    for path, fp16 in ((RUNNER, "no"), (FP16_RUNNER, "yes")):
        desc = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
        assert "ARM aarch64" in desc and "statically linked" in desc, desc
        v = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60).stdout
        assert "Paddle Lite version: v2.13-rc" in v and f"FP16 kernels: {fp16}" in v, v
    assert "Architecture: armv8.2-a+fp16" in subprocess.run([str(FP16_RUNNER), "--version"], capture_output=True,
                                                            text=True, timeout=60).stdout


def test_baked_fp16_export_ran_on_fp16_kernels(fp16_model):
    out, res = fp16_model
    m = res["fp16"]["manifest"]
    assert m["precision"] == "fp16" and m["stage"] == "fp16" and m["opt"]["enable_fp16"] is True
    assert m["opt"]["version"] == "v2.13-rc" and m["runtime"]["lite_version"] == "v2.13-rc"
    ck = m["fp16_check"]
    assert ck["ok"] and ck["ran"] == "fp16" and ck["non_finite"] == 0 and "baked FP16" in ck["evidence"]
    # FP16 rounding: not FP32's output (1e-4 of scale is the FP32 tolerance), yet close to it
    assert 1e-4 < ck["relative"] <= ck["tolerance"] == 0.1, ck
    assert ck["engine"].startswith("paddle-lite-arm-fp16 v2.13-rc (mlite-arm-runner-fp16")
    nb = out / "MobileNetV1_x0_25_fp16" / "MobileNetV1_x0_25_fp16.nb"
    fp32_nb = out / "MobileNetV1_x0_25" / "MobileNetV1_x0_25.nb"
    # weights stay FP32 in the file: about the FP32 size, not half
    assert 0.99 < nb.stat().st_size / fp32_nb.stat().st_size < 1.02
    # the armv8-a runtime cannot run it: one line, not Paddle Lite's abort
    p = subprocess.run([str(RUNNER), f"--optimized_model_file={nb}", "--warmup=0", "--repeats=1"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 4 and "mlite-arm-runner-fp16" in p.stderr.strip().splitlines()[-1], p.stderr


def test_package_of_an_fp16_model_says_what_the_app_needs(fp16_model, tmp_path):
    import shutil
    out, _res = fp16_model
    app = tmp_path / "android_demo"
    shutil.copytree(REPO / "android_demo", app, ignore=shutil.ignore_patterns("*.nb", "labels.txt", "config.json"))
    p = run_mlite("package", "--android", "--model-dir", out / "MobileNetV1_x0_25_fp16", "--app", app)
    assert p.returncode == 0, p.stderr
    assert "--with_arm82_fp16=ON" in p.stdout and "ARMv8.2 FP16" in p.stdout
    # the app reads this and checks /proc/cpuinfo before loading (CpuFeatures, make android-test)
    assert json.loads((app / "app/src/main/assets/config.json").read_text())["precision"] == "fp16"


def test_fp16_nan_model_is_refused_with_the_reason(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV3_small_x0_35", "--weights", "random", "--image-size", "32",
                  "--precision", "fp16", "--out", tmp_path)
    assert_one_line_error(p, "NaN", "nothing was written")
    assert (tmp_path / "MobileNetV3_small_x0_35").is_dir()          # the FP32 export is fine and kept
    assert not (tmp_path / "MobileNetV3_small_x0_35_fp16").exists()
    assert not [f for f in tmp_path.iterdir() if "partial" in f.name]


def test_fp16_on_the_sd855_phone_and_fallback_reported_as_fp32(fp16_model, adb_server, tmp_path):
    out, _res = fp16_model
    with loopback_device(tmp_path / "phone", ARM_PHONE) as phone:
        p = run_mlite("push", "--adb", "--model-dir", out / "MobileNetV1_x0_25_fp16", "--threads", "1,2", *FAST,
                      "--json")
        assert p.returncode == 0, p.stderr
        (run,) = json.loads(p.stdout)
        assert run["error"] is None and [r["threads"] for r in run["results"]] == [1, 2]
        for r in run["results"]:
            assert r["precision"] == "fp16" and r["backend"] == "arm" and r["emulated"] is True
            assert r["runner"]["path"] == str(FP16_RUNNER) and r["runner"]["cpu_precision_ran"] == "fp16"
            assert r["runner"]["cpu_fp16"]["fp16"] is True and "SM8150" in r["runner"]["cpu_fp16"]["cpu"]
        # the runtime switch on the FP32 .nb: under qemu-user Paddle Lite reads the host's /proc/cpuinfo, sees no
        # FP16 CPU and silently stays FP32 -> filed as FP32, never as FP16
        p = run_mlite("push", "--adb", "--model-dir", out / "MobileNetV1_x0_25", "--threads", "1", *FAST,
                      "--cpu-precision", "fp16", "--json")
        assert p.returncode == 0, p.stderr
        (r,) = json.loads(p.stdout)[0]["results"]
        assert r["precision"] == "fp32" and r["backend"] == "arm-fp16", r
        assert r["runner"]["cpu_precision_requested"] == "fp16" and r["runner"]["cpu_precision_ran"] == "fp32"
        assert "did not switch" in r["runner"]["precision_evidence"]
        assert [f for f in phone.root.rglob("*") if f.is_file() and ".adbd-bin" not in f.parts] == []
        rep = run_mlite("report", out)
        assert rep.returncode == 0 and "fp16" in rep.stdout, rep.stdout + rep.stderr


def test_fp16_refused_on_a_cortex_a53_phone_before_anything_is_copied(fp16_model, adb_server, tmp_path):
    out, _res = fp16_model
    with loopback_device(tmp_path / "a53", A53_PHONE, cpuinfo=A53_CPUINFO) as phone:
        for argv in (["--model-dir", out / "MobileNetV1_x0_25_fp16"],
                     ["--model-dir", out / "MobileNetV1_x0_25", "--cpu-precision", "fp16"]):
            p = run_mlite("push", "--adb", *argv, "--threads", "1", *FAST)
            assert p.returncode != 0
            assert "Cortex-A53" in p.stderr and "no FP16 arithmetic" in p.stderr and "SIGILL" in p.stderr, p.stderr
            assert [f for f in phone.root.rglob("*") if f.is_file() and ".adbd-bin" not in f.parts] == []
        # FP32 still runs there
        p = run_mlite("push", "--adb", "--model-dir", out / "MobileNetV1_x0_25", "--threads", "1", *FAST)
        assert p.returncode == 0, p.stderr


@pytest.fixture(scope="module")
def digits_v1(digits, tmp_path_factory):
    """MobileNetV1_x0_25 trained on the digits at 32x32: a labelled model on which the FP16 kernels behave."""
    from tests.fixtures.digits import train_digits
    return train_digits(tmp_path_factory.mktemp("digits_v1"), epochs=4, model="MobileNetV1_x0_25")


def test_digits_fp16_accuracy_on_the_phone_runtime(digits, digits_v1, adb_server, tmp_path):
    # the shared digits model (MobileNetV3_small_x0_35) computes NaN in FP16 at 32x32: refused with the reason
    p = run_mlite("export", "--model", "MobileNetV3_small_x0_35", "--weights", digits.weights, "--image-size", "32",
                  "--precision", "fp16", "--out", tmp_path)
    assert_one_line_error(p, "NaN", "--image-size")
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", digits_v1.weights, "--image-size", "32",
                  "--precision", "fp16", "--out", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    fp16_dir = tmp_path / "MobileNetV1_x0_25_fp16"
    with loopback_device(tmp_path / "phone", ARM_PHONE) as phone:
        p = run_mlite("eval", "--model-dir", fp16_dir, "--data", digits_v1.test, "--device", phone.serial, "--json")
        assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["precision"] == "fp16" and r["images"] == 539 and r["engine"].startswith("paddle-lite-arm-fp16")
    assert r["fp32_top1"] > 0.8, r                                   # a working model
    assert abs(r["fp32_top1"] - r["top1"]) <= 0.005, r               # FP16 within 0.5 points of FP32
    assert r["host_backend"] == "paddle (fp32 source)" and r["agreement"] >= 0.99, r
    p = run_mlite("eval", "--model-dir", fp16_dir, "--data", digits_v1.test)
    assert_one_line_error(p, "FP16", "--device local")


def _board_or_fail():
    from tests.fixtures import board as board_fx
    why = board_fx.unavailable()
    if why is not None:
        pytest.fail(why)
    return board_fx


def _ssh(b):
    return ("--ssh", b.target, "--ssh-config", b.config)


def test_fp16_on_an_armv82_board_and_the_runtime_switch_that_really_switches(fp16_model, tmp_path):
    board_fx = _board_or_fail()
    out, _res = fp16_model
    with board_fx.board(tmp_path / "b", cpuinfo=board_fx.fp16_cpuinfo()) as b:
        p = run_mlite("push", *_ssh(b), "--model-dir", out / "MobileNetV1_x0_25_fp16", "--threads", "1", *FAST,
                      "--json")
        assert p.returncode == 0, p.stderr
        (r,) = json.loads(p.stdout)[0]["results"]
        assert r["precision"] == "fp16" and r["emulated"] is True and "Kryo 4xx Gold" in r["runner"]["cpu_fp16"]["cpu"]
        assert r["runner"]["version"].startswith("mlite-arm-runner-fp16")
        # here Paddle Lite reads Kryo 485 cores in /proc/cpuinfo and does switch the FP32 .nb to its FP16 kernels
        p = run_mlite("push", *_ssh(b), "--model-dir", out / "MobileNetV1_x0_25", "--threads", "1", *FAST,
                      "--cpu-precision", "fp16", "--json")
        assert p.returncode == 0, p.stderr
        (r,) = json.loads(p.stdout)[0]["results"]
        assert r["precision"] == "fp16" and r["backend"] == "arm-fp16", r
        assert "Inference with low precision" in r["runner"]["precision_evidence"]
        assert not any(b.path("/tmp/mlite").glob("*"))
    # a board whose /proc/cpuinfo shows no ARM fields (qemu-user's default: the host's): FP16 is refused
    with board_fx.board(tmp_path / "b2") as b:
        p = run_mlite("push", *_ssh(b), "--model-dir", out / "MobileNetV1_x0_25_fp16", "--threads", "1", *FAST)
        assert_one_line_error(p, "does not show whether it has FP16 arithmetic", "FP32 or INT8")
        # run and study refuse FP16 on it before any export or training
        p = run_mlite("run", *_ssh(b), "--models", "MobileNetV1_x0_25", "--precision", "fp16", "--out", tmp_path / "r")
        assert_one_line_error(p, "does not show whether it has FP16 arithmetic")
        assert not (tmp_path / "r").exists()


def test_run_and_study_fp16_on_an_armv82_board(fp16_model, digits, tmp_path):
    """`run --precision fp16` measures FP32 and FP16 side by side; `study --precision fp32,fp16` gets FP16 top-1
    on the board's FP16 kernels next to FP32's."""
    board_fx = _board_or_fail()
    out, _res = fp16_model
    with board_fx.board(tmp_path / "b", cpuinfo=board_fx.fp16_cpuinfo()) as b:
        p = run_mlite("run", *_ssh(b), "--models", "MobileNetV1_x0_25", "--weights", "random", "--precision",
                      "fp32,fp16", "--threads", "1", *FAST, "--out", out, "--json", timeout=900)
        assert p.returncode == 0, p.stderr
        (o,) = json.loads(p.stdout)
        assert o["error"] is None and o["measured"] == 2 and len(o["directories"]) == 2, o
        rep = json.loads(run_mlite("report", out, "--format", "json").stdout)
        (t,) = [t for t in rep["tables"] if t["device"]["serial"] == b.target]
        precisions = {r["precision"] for r in t["rows"]}
        assert {"fp32", "fp16"} <= precisions, t["rows"]
        study = tmp_path / "study"
        p = run_mlite("study", "--data", digits.train, "--val", digits.test, "--models", "MobileNetV1_x0_25",
                      "--weights", "random", "--epochs", "2", "--image-size", "32", "--precision", "fp32,fp16",
                      "--device", f"ssh:{b.target}", "--ssh-config", b.config, "--threads", "1", *FAST,
                      "--out", study, "--json", timeout=1800)
        assert p.returncode == 0, p.stderr
    fp32, fp16 = json.loads(p.stdout)["rows"]
    assert (fp32["precision"], fp16["precision"]) == ("fp32", "fp16") and fp16["error"] is None, fp16
    assert fp16["device_engine"].startswith("paddle-lite-arm-fp16") and fp16["top1_engine"] == "paddle (fp32 source)"
    assert fp16["top1"] == fp32["top1"] and abs(fp16["device_top1"] - fp32["device_top1"]) <= 0.005, (fp32, fp16)
    assert set(fp16["latency_ms"]["lite"]) == {"1"} and fp16["size_mb"] > 0
