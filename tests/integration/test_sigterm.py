"""SIGTERM (a CI timeout, ``docker stop``) stops the long commands within 2 s: device threads, worker processes
and the runners they started (on the phone, on the board, on this host) stop; only whole results are kept."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import MLITE, run_mlite
from tests.fixtures.arm import why_no_arm
from tests.fixtures.loopback import ARM64_SD855, loopback_device

pytestmark = pytest.mark.slow
MODEL = "MobileNetV1_x0_25"
SLOW_RUNS = ("--threads", "1,2,4", "--warmup", "1", "--repeats", "40")     # each run: several seconds under qemu


@pytest.fixture(scope="module")
def arm_export(tmp_path_factory):
    if why_no_arm():
        pytest.fail(why_no_arm())
    out = tmp_path_factory.mktemp("sigterm")
    p = run_mlite("export", "--model", MODEL, "--weights", "random", "--out", out)
    assert p.returncode == 0, p.stderr
    return out / MODEL


def _tagged_processes(tag: str) -> list[int]:
    """Live processes started by the command under test (they inherit MLITE_TEST_TAG in their environment)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if f"MLITE_TEST_TAG={tag}".encode() in (d / "environ").read_bytes().split(b"\0"):
                    found.append(int(d.name))
            except OSError:
                continue
    return found


def _start(args, tag: str) -> subprocess.Popen:
    return subprocess.Popen([MLITE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLITE_TEST_TAG": tag})


def _terminate(proc: subprocess.Popen, tag: str) -> tuple[float, str]:
    """SIGTERM; (seconds until mlite exited, its stderr). Asserts exit 143 and no process of it left."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    print(f"stopped {took:.2f} s after SIGTERM")
    assert proc.returncode == 143, err
    deadline = time.monotonic() + 2
    while _tagged_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tagged_processes(tag) == [], "a child of mlite outlived it"
    return took, err


def _wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _whole_results(model_dir: Path) -> list[dict]:
    files = sorted((model_dir / "bench").glob("*.json")) if (model_dir / "bench").is_dir() else []
    results = [json.loads(f.read_text()) for f in files]           # each parses: nothing half-written
    assert all(r["perf"]["avg_ms"] > 0 and r["threads"] in (1, 2, 4) for r in results)
    return results


def test_push_adb_stops_within_2s_and_the_phone_runner_with_it(arm_export, adb_server, tmp_path):
    tag = uuid.uuid4().hex
    with loopback_device(tmp_path / "phone", ARM64_SD855) as phone:
        before = len(_whole_results(arm_export))
        proc = _start(["push", "--adb", "--model-dir", arm_export, *SLOW_RUNS], tag)
        _wait_for(lambda: len(_whole_results(arm_export)) > before, 300, "the first stored result")
        took, err = _terminate(proc, tag)
        assert took < 2, f"mlite took {took:.1f} s to stop"
        assert "Terminated" in err or "terminated" in err
        kept = _whole_results(arm_export)
        assert before < len(kept) < before + 3                 # the 4-thread run was never stored
        # the runner on the phone was killed with the adb stream (adbd's rule), not left to finish
        _wait_for(lambda: not any("mlite-arm-runner" in _cmdline(p) for p in phone.pids()), 5, "the phone's runner")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_push_ssh_stops_within_2s_and_the_board_runner_with_it(arm_export, tmp_path):
    from tests.fixtures import board as board_fx
    if board_fx.unavailable():
        pytest.fail(board_fx.unavailable())
    tag = uuid.uuid4().hex
    model_dir = tmp_path / "m"
    import shutil
    shutil.copytree(arm_export, model_dir, ignore=shutil.ignore_patterns("bench"))
    with board_fx.board(tmp_path / "b") as b:
        proc = _start(["push", "--ssh", b.target, "--ssh-config", b.config, "--model-dir", model_dir, *SLOW_RUNS], tag)
        _wait_for(lambda: len(_whole_results(model_dir)) >= 1, 300, "the first stored result")
        took, _err = _terminate(proc, tag)
        assert took < 2, f"mlite took {took:.1f} s to stop"
        assert 1 <= len(_whole_results(model_dir)) <= 2
        # sshd leaves a remote command running when its client dies: mlite ties the runner to its ssh client
        _wait_for(lambda: not b.running("mlite-arm-runner"), 5, "the board's runner to stop")


def test_run_jobs_2_stops_within_2s_without_exporting_the_rest(tmp_path):
    tag = uuid.uuid4().hex
    out = tmp_path / "out"
    models = "MobileNetV1_x0_25,ShuffleNetV2_x0_25,MobileNetV3_small_x0_35,MobileNetV2_x0_25"
    proc = _start(["run", "--models", models, "--int8", "--weights", "random", "--local", "--jobs", "2",
                   "--threads", "1", "--warmup", "0", "--repeats", "1", "--out", out], tag)
    _wait_for(lambda: any(out.glob(".*.partial-*")), 300, "the workers' first staging dir")
    time.sleep(1)
    took, _err = _terminate(proc, tag)
    assert took < 2, f"mlite took {took:.1f} s to stop"
    left = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    assert not [n for n in left if "partial" in n or ".old-" in n], left          # the workers cleaned up
    for d in out.iterdir() if out.is_dir() else []:
        assert (d / "manifest.json").is_file(), d               # only whole exports


def test_study_stops_within_2s(tmp_path):
    from tests.integration.test_bad_inputs import _images
    tag = uuid.uuid4().hex
    data = _images(tmp_path / "d", ["a", "b", "c"], per_class=40)
    out = tmp_path / "study"
    proc = _start(["study", "--data", data, "--models", "ShuffleNetV2_x0_25,MobileNetV1_x0_25", "--weights", "random",
                   "--epochs", "30", "--image-size", "64", "--threads", "1", "--warmup", "0", "--repeats", "1",
                   "--out", out], tag)
    _wait_for(lambda: any(out.glob("split-*")), 300, "the split")
    time.sleep(4)                                            # training
    took, _err = _terminate(proc, tag)
    assert took < 2, f"mlite took {took:.1f} s to stop"
    assert not list(out.rglob("*.part")) and not list(out.rglob("*partial*")) and not list(out.glob("*.tmp*"))
    assert not list(out.rglob("*.pdparams")), "no fine-tuned weights after 4 s of a 30-epoch run"
