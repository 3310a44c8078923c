"""`mlite devices` / `mlite push --adb` end to end: the real adb client against loopback ADB devices."""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from tests.conftest import MLITE, assert_one_line_error, run_mlite
from tests.fixtures.loopback import SD855, loopback_device

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("adb_server")]
FAST = ("--warmup", "1", "--repeats", "3")


@pytest.fixture
def device(tmp_path):
    with loopback_device(tmp_path / "dev", SD855) as d:
        yield d


def _fake_runner(tmp_path, body: str):
    f = tmp_path / "runner.sh"
    f.write_text("#!/bin/sh\n" + body + "\n")
    f.chmod(0o755)
    return f


def _sandbox_files(dev):
    return sorted(str(p.relative_to(dev.root)) for p in dev.root.rglob("*")
                  if ".adbd-bin" not in p.parts and p.is_file())


def test_devices_describes_the_device(device):
    p = run_mlite("devices", "--json")
    assert p.returncode == 0, p.stderr
    (row,) = json.loads(p.stdout)
    assert row["serial"] == device.serial and row["state"] == "device"
    assert (row["model"], row["soc"], row["soc_name"], row["abi"], row["android"]) == \
        ("MI 9", "SM8150", "Snapdragon 855", "x86_64", "13")
    assert row["free_bytes"] > 0
    text = run_mlite("devices").stdout
    assert "Snapdragon 855" in text and device.serial in text


def test_push_benchmarks_each_thread_count_and_cleans_up(device, x86_model):
    p = run_mlite("push", "--adb", "--model-dir", x86_model, "--threads", "1,2,4", *FAST, "--json")
    assert p.returncode == 0, p.stderr
    (run,) = json.loads(p.stdout)
    assert run["error"] is None and [r["threads"] for r in run["results"]] == [1, 2, 4]
    nb = x86_model / "MobileNetV1_x0_25.nb"
    for r in run["results"]:
        perf = r["perf"]
        assert 0 < perf["min_ms"] <= perf["avg_ms"] <= perf["max_ms"] and len(perf["raw_ms"]) == 3
        assert perf["p50_ms"] is not None and perf["init_ms"] > 0 and perf["first_ms"] > 0
        assert r["storage_bytes"] == nb.stat().st_size and r["backend"] == "x86"
        assert r["device"]["soc_name"] == "Snapdragon 855" and r["weights"].startswith("random")
        assert r["runner"]["version"].startswith("mlite-runner") and (r["warmup"], r["repeats"]) == (1, 3)
    stored = sorted((x86_model / "bench").glob("*__t*__*.json"))
    assert len(run["result_files"]) == 3 and all(os.path.exists(f) for f in run["result_files"])
    assert json.loads(open(run["result_files"][0]).read())["perf"] == run["results"][0]["perf"]
    assert len(stored) >= 3
    assert _sandbox_files(device) == [] and not (device.root / "mlite").exists()
    table = run_mlite("push", "--adb", "--model-dir", x86_model, "--threads", "1", *FAST)
    assert table.returncode == 0 and "MI 9" in table.stdout and "avg ms" in table.stdout


def test_keep_then_identical_files_are_not_pushed_again(device, x86_model):
    args = ("push", "--adb", "--model-dir", x86_model, "--threads", "1", *FAST, "--keep")
    assert run_mlite(*args).returncode == 0
    files = _sandbox_files(device)
    assert files == ["mlite/MobileNetV1_x0_25.nb", "mlite/mlite-runner"]
    mtimes = {f: (device.root / f).stat().st_mtime_ns for f in files}
    time.sleep(0.05)
    assert run_mlite(*args).returncode == 0
    assert {f: (device.root / f).stat().st_mtime_ns for f in files} == mtimes


def test_shell_v1_device_still_reports_exit_status(tmp_path, x86_model):
    with loopback_device(tmp_path / "v1", flags=("--no-shell-v2",)) as dev:
        ok = run_mlite("push", "--adb", "--serial", dev.serial, "--model-dir", x86_model, "--threads", "2", *FAST)
        assert ok.returncode == 0, ok.stderr
        bad = run_mlite("push", "--adb", "--serial", dev.serial, "--model-dir", x86_model, "--threads", "1",
                        "--runner", _fake_runner(tmp_path, "echo broken; exit 7"))
        assert_one_line_error(bad, "exited with status 7", "broken")


def test_several_devices_in_parallel_and_serial_selection(tmp_path, x86_model):
    with loopback_device(tmp_path / "a", {"ro.product.model": "A"}) as a, \
            loopback_device(tmp_path / "b", {"ro.product.model": "B"}) as b:
        amb = run_mlite("push", "--adb", "--model-dir", x86_model, *FAST)
        assert_one_line_error(amb, "2 adb devices attached", "--serial")
        p = run_mlite("push", "--adb", "--serial", "all", "--model-dir", x86_model, "--threads", "1,2", *FAST, "--json")
        assert p.returncode == 0, p.stderr
        runs = json.loads(p.stdout)
        assert sorted(r["device"]["model"] for r in runs) == ["A", "B"]
        assert all(len(r["results"]) == 2 for r in runs)
        only_b = run_mlite("push", "--adb", "--model-dir", x86_model, "--threads", "1", *FAST, "--json",
                           env={"ANDROID_SERIAL": b.serial})
        assert [r["device"]["model"] for r in json.loads(only_b.stdout)] == ["B"]
        two = run_mlite("push", "--adb", "--serial", a.serial, "--serial", b.serial, "--model-dir", x86_model,
                        "--threads", "1", *FAST, "--json")
        assert len(json.loads(two.stdout)) == 2


# ---- faults ---------------------------------------------------------------------------------

def test_adb_missing(x86_model, tmp_path):
    p = run_mlite("push", "--adb", "--model-dir", x86_model, env={"PATH": str(tmp_path), "MLITE_ADB": ""})
    assert_one_line_error(p, "adb not found")


def test_no_device(x86_model):
    assert_one_line_error(run_mlite("push", "--adb", "--model-dir", x86_model), "no adb device attached")
    assert run_mlite("devices", "--json").stdout.strip() == "[]"


def test_unknown_serial(device, x86_model):
    assert_one_line_error(run_mlite("push", "--adb", "--serial", "emulator-9999", "--model-dir", x86_model),
                          "no adb device with serial 'emulator-9999'", device.serial)


def test_unauthorized(tmp_path, x86_model):
    with loopback_device(tmp_path / "auth", flags=("--auth",), wait_state="unauthorized") as dev:
        p = run_mlite("push", "--adb", "--serial", dev.serial, "--model-dir", x86_model)
        assert_one_line_error(p, "unauthorized", "Allow USB debugging")
        rows = json.loads(run_mlite("devices", "--json").stdout)
        assert [(r["serial"], r["state"]) for r in rows] == [(dev.serial, "unauthorized")]


def test_serial_all_says_which_devices_it_left_out_and_why(tmp_path, x86_model):
    with loopback_device(tmp_path / "ok", {"ro.product.model": "A"}) as ok, \
            loopback_device(tmp_path / "auth", flags=("--auth",), wait_state="unauthorized") as locked:
        p = run_mlite("push", "--adb", "--serial", "all", "--model-dir", x86_model, "--threads", "1", *FAST)
        assert p.returncode == 0, p.stderr
        assert f"mlite: warning: device {locked.serial} is unauthorized, not measured: unlock the phone" in p.stderr
        p = run_mlite("push", "--adb", "--serial", "all", "--model-dir", x86_model, "--threads", "1", *FAST, "--json")
        runs = json.loads(p.stdout)
        assert [(r["device"]["serial"], len(r["results"]), bool(r["not_measured"])) for r in runs] == [
            (ok.serial, 1, False), (locked.serial, 0, True)]


def test_offline(tmp_path, x86_model):
    with loopback_device(tmp_path / "off", flags=("--offline",), wait_state="offline"):
        assert_one_line_error(run_mlite("push", "--adb", "--model-dir", x86_model), "offline", "reconnect")


def test_no_space_left(tmp_path, x86_model):
    with loopback_device(tmp_path / "full", flags=("--quota", "500000")) as dev:
        p = run_mlite("push", "--adb", "--model-dir", x86_model, *FAST)
        assert_one_line_error(p, "no space left")
        assert not list((x86_model / "bench").glob(f"{dev.serial.replace(':', '_')}__*"))
        assert _sandbox_files(dev) == []


def test_runner_crash_garbage_and_timeout(device, x86_model, tmp_path):
    crash = run_mlite("push", "--adb", "--model-dir", x86_model, "--runner", _fake_runner(tmp_path, "kill -SEGV $$"))
    assert_one_line_error(crash, "killed by signal 11")
    garbage = run_mlite("push", "--adb", "--model-dir", x86_model,
                        "--runner", _fake_runner(tmp_path, "echo 'all good, trust me'"))
    assert_one_line_error(garbage, "neither a 'Perf Info' block", "all good")
    t0 = time.time()
    slow = run_mlite("push", "--adb", "--model-dir", x86_model, "--timeout", "2",
                     "--runner", _fake_runner(tmp_path, "sleep 30"))
    assert_one_line_error(slow, "exceeded --timeout 2 s")
    assert time.time() - t0 < 25
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", str(device.root / "mlite")], capture_output=True).returncode == 1
    bench = x86_model / "bench"
    before = set(bench.iterdir()) if bench.exists() else set()
    bad = run_mlite("push", "--adb", "--model-dir", x86_model, "--runner", _fake_runner(tmp_path, "exit 1"))
    assert bad.returncode != 0
    assert (set(bench.iterdir()) if bench.exists() else set()) == before   # failures are never recorded


def test_device_lost_mid_run(tmp_path, x86_model):
    with loopback_device(tmp_path / "lost") as dev:
        killer = threading.Timer(2.0, dev.kill)
        killer.start()
        p = run_mlite("push", "--adb", "--model-dir", x86_model, "--runner", _fake_runner(tmp_path, "sleep 20"),
                      "--timeout", "60")
        killer.cancel()
        assert_one_line_error(p, dev.serial)
        assert "lost" in p.stderr or "stopped answering" in p.stderr or "offline" in p.stderr


def test_device_lost_mid_push(tmp_path):
    model = tmp_path / "big"
    model.mkdir()
    (model / "big.nb").write_bytes(os.urandom(64 * 1024 * 1024))
    with loopback_device(tmp_path / "lostpush") as dev:
        proc = subprocess.Popen([MLITE, "push", "--adb", "--model-dir", str(model)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and not list(dev.root.rglob("*.adbd-part")):
            time.sleep(0.01)
        dev.kill()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlite: error: ") and "Traceback" not in err, err
    assert dev.serial in lines[0]


def test_model_dir_without_nb(device, tmp_path):
    assert_one_line_error(run_mlite("push", "--adb", "--model-dir", tmp_path), "has no .nb model")


def test_quotes_and_spaces_run_nothing(device, x86_model, tmp_path):
    name = "a'; touch mlite_pwned; '"
    places = [device.root / "mlite_pwned", device.root / "mlite" / "mlite_pwned", tmp_path / "mlite_pwned"]
    evil = tmp_path / "dir with 'quotes' and spaces"
    evil.mkdir()
    shutil.copy(x86_model / "MobileNetV1_x0_25.nb", evil / f"{name}.nb")
    p = run_mlite("push", "--adb", "--model-dir", evil, "--threads", "1", *FAST, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    (run,) = json.loads(p.stdout)
    assert run["results"][0]["model"] == name
    bad_remote = run_mlite("push", "--adb", "--model-dir", x86_model, "--remote-dir",
                           "/data/local/tmp/x'; touch mlite_pwned; '", cwd=tmp_path)
    assert_one_line_error(bad_remote, "--remote-dir")
    assert not any(p.exists() for p in places)


def test_bench_local_lite_and_onnxruntime(x86_model):
    p = run_mlite("bench", "--local", "--model-dir", x86_model, "--threads", "1,2", *FAST, "--rounds", "2", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert sorted((r["backend"], r["threads"]) for r in res["results"]) == \
        [("lite", 1), ("lite", 2), ("onnxruntime", 1), ("onnxruntime", 2)]
    for r in res["results"]:   # two runner processes per cell, their timed runs pooled, each with its reference
        assert r["repeats"] == 6 and r["settings"]["rounds"] == 2 and len(r["settings"]["round_p50_ms"]) == 2
        assert len(r["perf"]["raw_ms"]) == len(r["perf"]["ref_ms"]) == 6 and r["perf"]["ref_units_p50"] > 0
        assert min(r["perf"]["raw_ms"]) == r["perf"]["min_ms"]
    assert set(res["lite_over_onnxruntime"]) == {"1", "2"} and all(v > 0 for v in res["lite_over_onnxruntime"].values())
    text = run_mlite("bench", "--local", "--model-dir", x86_model, "--threads", "1", *FAST).stdout
    assert "Paddle Lite x86 / ONNX Runtime latency" in text


def test_bench_local_needs_the_right_artifacts(tmp_path):
    p = run_mlite("export", "--model", "MobileNetV1_x0_25", "--weights", "random", "--out", tmp_path)
    assert p.returncode == 0
    assert_one_line_error(run_mlite("bench", "--local", "--model-dir", tmp_path / "MobileNetV1_x0_25"),
                          "no x86 .nb", "--target x86")
