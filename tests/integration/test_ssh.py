"""ARM Linux boards over SSH: the system OpenSSH client against Debian's arm64 OpenSSH server running in an
arm64 Debian root through qemu-user (tests/fixtures/board.py) — `uname -m` says aarch64 there and our
static runner runs as on a Raspberry Pi 4B. Host keys are pinned; faults give one line and exit != 0."""
import json
import os
import subprocess
import threading
import time

import pytest

from tests.conftest import assert_one_line_error, interruptible_mlite, run_mlite, MLITE
from tests.fixtures import board as board_fx
from tests.fixtures.arm import why_no_arm

pytestmark = pytest.mark.slow
FAST = ("--warmup", "1", "--repeats", "3")


@pytest.fixture(scope="module", autouse=True)
def arm_board_host():
    why = why_no_arm() or board_fx.unavailable()
    if why is not None:
        if os.geteuid() != 0:
            pytest.skip(f"SSH board tests need root (chroot, namespaces, binfmt): {why}")
        pytest.fail(why)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with board_fx.board(tmp_path_factory.mktemp("board")) as b:
        yield b


def _ssh(b, *args, config=None):
    return ("--ssh", b.target, "--ssh-config", config or b.config, *args)


def _bench_files(model_dir):
    return sorted((model_dir / "bench").glob("*.json")) if (model_dir / "bench").is_dir() else []


def test_devices_describes_the_board(board):
    p = run_mlite("devices", *_ssh(board), "--json")
    assert p.returncode == 0, p.stderr
    (row,) = json.loads(p.stdout)
    assert row["kind"] == "ssh" and row["serial"] == board.target and row["machine"] == "aarch64"
    assert row["os"] == "Debian GNU/Linux 12 (bookworm)" and row["cores"] == os.cpu_count()
    assert row["mem_bytes"] > 2**28 and row["free_bytes"] > 0
    # qemu-user shows the host's /proc/cpuinfo: recognised, said, and the board is marked emulated
    assert row["emulated"] is True and row["soc"].startswith("qemu-user aarch64 on ") and row["cpu_note"]
    text = run_mlite("devices", *_ssh(board))
    assert text.returncode == 0 and "aarch64" in text.stdout and "[emulated]" in text.stdout


def test_push_benchmarks_on_the_board_and_reports_it_as_emulated(board, digits_export, tmp_path):
    out, _ = digits_export
    model_dir = out / "MobileNetV3_small_x0_35_int8"
    before = set(_bench_files(model_dir))
    p = run_mlite("push", *_ssh(board), "--model-dir", model_dir, "--threads", "1,2", *FAST, "--json")
    assert p.returncode == 0, p.stderr
    (run,) = json.loads(p.stdout)
    assert run["error"] is None and run["device"]["kind"] == "ssh"
    res = run["results"]
    assert [r["threads"] for r in res] == [1, 2]
    for r in res:
        assert r["emulated"] is True and r["backend"] == "arm" and r["precision"] == "int8"
        assert r["runner"]["version"].startswith("mlite-arm-runner") and r["perf"]["avg_ms"] > 0
        assert r["storage_bytes"] == (model_dir / "MobileNetV3_small_x0_35_int8.nb").stat().st_size
        # the board's own /sys (this VM's: cores listed, no cpufreq) through its dash and coreutils
        assert len(r["state"]["before"]["cpus"]) == os.cpu_count() and r["state"]["throttled"] is False
    # its /proc/sys is read-only (as in a container): the page cache stays, the first load is warm and says why
    assert res[0]["load"]["cache"] == "warm" and "Read-only file system" in res[0]["load"]["note"]
    assert len(set(_bench_files(model_dir)) - before) == 2
    assert not any(board.path("/tmp/mlite").glob("*")), "pushed files are removed afterwards"
    rep = json.loads(run_mlite("report", model_dir, "--format", "json").stdout)
    (table,) = [t for t in rep["tables"] if t["device"]["serial"] == board.target]
    assert table["emulated"] and "qemu-user" in table["title"]


def test_eval_on_the_board_matches_this_hosts_arm_runtime(board, digits, digits_export):
    out, _ = digits_export
    model_dir = out / "MobileNetV3_small_x0_35_int8"
    env = {"MLITE_SSH_CONFIG": str(board.config)}
    on_board = run_mlite("eval", "--model-dir", model_dir, "--data", digits.test, "--limit", 120,
                         "--device", f"ssh:{board.target}", "--json", env=env)
    assert on_board.returncode == 0, on_board.stderr
    local = run_mlite("eval", "--model-dir", model_dir, "--data", digits.test, "--limit", 120, "--device", "local",
                      "--json")
    a, b = json.loads(on_board.stdout), json.loads(local.stdout)
    assert a["device"]["serial"] == board.target and a["device"]["kind"] == "ssh"
    assert a["top1"] == b["top1"] and a["host_agreement"] == b["host_agreement"] >= 0.95


def test_run_over_ssh_exports_and_benchmarks(board, tmp_path):
    out = tmp_path / "out"
    p = run_mlite("run", "--models", "ShuffleNetV2_x0_25", "--weights", "random", "--threads", "1", *FAST,
                  *_ssh(board), "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    (o,) = json.loads(p.stdout)
    assert o["error"] is None and o["measured"] == 1
    again = json.loads(run_mlite("run", "--models", "ShuffleNetV2_x0_25", "--weights", "random", "--threads", "1",
                                 *FAST, *_ssh(board), "--out", out, "--json").stdout)
    assert (again[0]["measured"], again[0]["reused"]) == (0, 1)


@pytest.mark.parametrize("fault, needle", [
    ("unknown_host_key", "is not known here"),
    ("changed_host_key", "has CHANGED"),
    ("wrong_key", "refused the login"),
    ("refused", "refused the connection on port"),
    ("bad_target", "no valid user name"),
    ("bad_port", "is not a number from 1 to 65535"),
    ("missing_identity", "--identity"),
])
def test_ssh_faults_give_one_line(board, digits_export, tmp_path, fault, needle):
    out, _ = digits_export
    model_dir = out / "MobileNetV3_small_x0_35"
    before = set(_bench_files(model_dir))
    args = list(_ssh(board))
    if fault == "unknown_host_key":
        args = list(_ssh(board, config=board.client_config(tmp_path / "cfg", known_hosts="")))
    elif fault == "changed_host_key":
        other = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        pub = other.with_suffix(".pub").read_text().split()
        args = list(_ssh(board, config=board.client_config(tmp_path / "cfg", f"[127.0.0.1]:{board.port} {pub[0]} {pub[1]}\n")))
    elif fault == "wrong_key":
        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
        args = list(_ssh(board, config=board.client_config(tmp_path / "cfg", key=stranger)))
    elif fault == "refused":
        args = ["--ssh", f"root@127.0.0.1:{board_fx.free_port()}", "--ssh-config", board.config]
    elif fault == "bad_target":
        args = ["--ssh", "127.0.0.1;reboot"]
    elif fault == "bad_port":
        args = ["--ssh", "root@127.0.0.1:99999"]
    elif fault == "missing_identity":
        args += ["--identity", tmp_path / "nope"]
    p = run_mlite("push", *args, "--model-dir", model_dir, "--threads", "1", *FAST)
    assert_one_line_error(p, needle)
    assert set(_bench_files(model_dir)) == before, "nothing is recorded for a failed run"


def test_board_lost_mid_run_gives_one_line_and_records_nothing(digits_export, tmp_path):
    """The board loses power while the runner runs: one line, exit != 0, no result stored."""
    out, _ = digits_export
    model_dir = out / "MobileNetV3_small_x0_35"
    before = set(_bench_files(model_dir))
    with board_fx.board(tmp_path / "b") as b:
        proc = interruptible_mlite([MLITE, "push", *map(str, _ssh(b)), "--model-dir", str(model_dir), "--threads", "1",
                                    "--warmup", "1", "--repeats", "2000"])
        deadline = time.monotonic() + 120
        while not b.running("mlite-arm-runner --optimized_model_file"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        killer = threading.Timer(1.0, b.power_off)
        killer.start()
        stdout, stderr = proc.communicate(timeout=120)
        killer.join()
    p = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert_one_line_error(p, f"the connection to {b.target} was lost")
    assert set(_bench_files(model_dir)) == before


STUDY_MODELS = "MobileNetV3_small_x0_35,ShuffleNetV2_x0_25,MobileNetV2_x0_25"


def test_study_on_the_board_fills_every_column_and_reruns_from_cache(board, digits, tmp_path, mlite_home):
    """`mlite study` on digits (32x32, 3 models, 2 epochs, FP32+INT8) against the SSH board: one pretrained
    start (served by a mirror), two from scratch (no weights: said), top-1 on host and board runtime."""
    from tests.fixtures.http_mirror import save_state, serve_directory
    from toolkit import zoo
    spec = zoo.get("MobileNetV3_small_x0_35")
    site = tmp_path / "site"
    save_state(spec.module, spec.arch, site / "dygraph/legendary_models/MobileNetV3_small_x0_35_pretrained.pdparams")
    out = tmp_path / "study"
    args = ["study", "--data", digits.train, "--models", STUDY_MODELS, "--epochs", 2, "--image-size", 32,
            "--precision", "fp32,int8", "--backends", "lite,ncnn", "--device", f"ssh:{board.target}",
            "--ssh-config", board.config,
            "--threads", "1,2", "--warmup", 1, "--repeats", 3, "--out", out]
    with serve_directory(site) as url:
        p = run_mlite(*args, env={"MLITE_WEIGHTS_MIRROR": url}, timeout=1800)
        assert p.returncode == 0, p.stderr
        assert "| model | precision | top-1 % | top-1 on device % |" in p.stdout and "Pareto front" in p.stdout
        res = json.loads((out / "study.json").read_text())
        assert res["emulated"] and res["device"]["kind"] == "ssh" and res["split"]["val_images"] > 200
        rows = res["rows"]
        assert [(r["model"], r["precision"]) for r in rows] == [(m, p) for m in STUDY_MODELS.split(",")
                                                                  for p in ("fp32", "int8")]
        for r in rows:
            assert r["error"] is None
            for k in ("top1", "device_top1", "flops_g", "params_m", "activation_peak_mb", "peak_rss_mb", "size_mb",
                      "train_s", "init"):
                assert r[k] is not None, (r["model"], r["precision"], k)
            want = {"lite", "ncnn"} if r["precision"] == "fp32" else {"lite"}       # ncnn: FP32 only
            assert set(r["latency_ms"]) == want and all(set(v) == {"1", "2"} for v in r["latency_ms"].values())
            assert (r["ncnn_size_mb"] is not None) == (r["precision"] == "fp32")
            assert 0.1 < r["device_top1"] <= 1 and abs(r["device_top1"] - r["top1"]) <= 0.02
        by = {(r["model"], r["precision"]): r for r in rows}
        assert by[("MobileNetV3_small_x0_35", "fp32")]["init"] == "pretrained"
        assert by[("ShuffleNetV2_x0_25", "fp32")]["init"] == "scratch"
        assert "pretrained weights unavailable" in by[("ShuffleNetV2_x0_25", "fp32")]["init_note"]
        for m in STUDY_MODELS.split(","):
            assert by[(m, "int8")]["size_mb"] < by[(m, "fp32")]["size_mb"] / 1.5
        assert res["pareto"] and (out / "study.png").stat().st_size > 10_000
        assert "<img" in (out / "study.html").read_text() and len((out / "study.csv").read_text().splitlines()) == 7
        # rerun: every stage comes from the cache (no training, no new measurement)
        bench = sorted(out.rglob("bench/*.json"))
        stamp = [(f, f.stat().st_mtime_ns) for f in out.rglob("finetune.json")]
        t0 = time.monotonic()
        again = run_mlite(*args, "--json", env={"MLITE_WEIGHTS_MIRROR": url}, timeout=900)
        assert again.returncode == 0, again.stderr
    assert sorted(out.rglob("bench/*.json")) == bench and all(f.stat().st_mtime_ns == t for f, t in stamp)
    assert [r["latency_ms"] for r in json.loads(again.stdout)["rows"]] == [r["latency_ms"] for r in rows]
    assert time.monotonic() - t0 < 120


@pytest.fixture(scope="module")
def ncnn_exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("ncnn_board")
    for name in ("MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25"):
        p = run_mlite("export", "--model", name, "--weights", "random", "--ncnn", "--out", out)
        assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("name", ["MobileNetV3_small_x0_35", "ShuffleNetV2_x0_25"])
def test_ncnn_on_the_boards_arm_kernels_matches_paddle(board, ncnn_exports, name):
    """The board's own ncnn (its aarch64 wheel, NEON kernels under qemu-user) against Paddle's output."""
    import numpy as np
    from toolkit import device_exec, parity
    from toolkit.devices.ssh import SshDevice
    from toolkit.push import find_ncnn, ncnn_plan
    d = ncnn_exports / name
    x = np.concatenate([parity.fixed_input((1, 3, 224, 224)), -parity.fixed_input((1, 3, 224, 224))])
    ref = parity.paddle_reference(d / "inference.pdmodel", d / "inference.pdiparams", x)
    dev = SshDevice(board.target, config=board.config)
    info = dev.info()
    with device_exec.Workspace(dev, "/tmp/mlite-ncnn-parity") as ws:
        plan = ncnn_plan(dev, ws, find_ncnn(d), info)
        out = device_exec.infer(ws, plan.launch, plan.remote_model, x, backend="ncnn").outputs
    engine = plan.engine
    check = parity.compare(engine, ref, out.reshape(ref.shape), tolerance=1e-3)
    assert check.ok and check.top1_match, check.to_dict()
    assert engine.startswith("ncnn 1.0.") and info.machine == "aarch64"


def test_lite_and_ncnn_side_by_side_on_the_board(board, ncnn_exports):
    d = ncnn_exports / "ShuffleNetV2_x0_25"
    for backend in ("lite", "ncnn"):
        p = run_mlite("push", *_ssh(board), "--backend", backend, "--model-dir", d, "--threads", "1,2", *FAST, "--json")
        assert p.returncode == 0, p.stderr
        (run,) = json.loads(p.stdout)
        assert run["error"] is None and [r["threads"] for r in run["results"]] == [1, 2]
        assert all(r["emulated"] and r["backend"] == ("arm" if backend == "lite" else "ncnn") for r in run["results"])
    fp16 = run_mlite("push", *_ssh(board), "--backend", "ncnn", "--cpu-precision", "fp16", "--model-dir", d,
                     "--threads", "1", *FAST, "--json")
    assert fp16.returncode == 0, fp16.stderr
    assert [r["backend"] for r in json.loads(fp16.stdout)[0]["results"]] == ["ncnn-fp16"]
    md = run_mlite("report", d)
    rows = [ln for ln in md.stdout.splitlines() if ln.startswith("| ShuffleNetV2_x0_25 ")]
    assert len(rows) == 3 and {"arm", "ncnn", "ncnn-fp16"} == {ln.split("|")[2].strip() for ln in rows}
