"""Fault injection over the commands: read-only output and home, full disks, SIGTERM/SIGINT mid-run, corrupt
files of every kind mlite reads. Each case: exit != 0 with one line (and with --json one error object on
stdout), no traceback, nothing half-written, no earlier artifact changed.

Read-only and full filesystems are real mounts (tmpfs, read-only bind mounts): root only, as in CI."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import MLITE, assert_one_line_error, interruptible_mlite, run_mlite

pytestmark = pytest.mark.slow
MODEL = "MobileNetV1_x0_25"          # 0.47 M params: every file ~1.9 MB
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="read-only and full filesystems are tmpfs/bind mounts: run as "
                                                 "root (CI does)")
FAST = {"MLITE_ARM_RUNNER": "none"}  # ARM-kernel parity is covered by test_arm; keep these runs short


# ---- helpers ------------------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) -> sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def leftovers(*roots: Path) -> list[str]:
    """Staging or scratch entries a failed run left behind."""
    bad = []
    for r in roots:
        for p in Path(r).rglob("*") if Path(r).exists() else []:
            if ".partial-" in p.name or ".old-" in p.name or p.name.startswith("mlite-"):
                bad.append(str(p))
    return bad


def failed_cleanly(p: subprocess.CompletedProcess, *needles: str, as_json: bool = False) -> str:
    """One line on stderr naming ``needles`` (case-insensitive); stdout empty, or one JSON error with --json."""
    line = assert_one_line_error(p)
    for n in needles:
        assert n.lower() in line.lower(), line
    assert "C++ Traceback" not in p.stdout + p.stderr
    if as_json:
        err = json.loads(p.stdout)["error"]
        assert err["message"] == line.removeprefix("mlite: error: ") and err["exit_code"] == p.returncode
    else:
        assert p.stdout == "", p.stdout
    return line


@contextlib.contextmanager
def mounted(target: Path, *, size: str | None = None, read_only_copy_of: Path | None = None):
    """A tmpfs of ``size`` at ``target``, or a read-only bind mount of ``read_only_copy_of``."""
    target.mkdir(parents=True, exist_ok=True)
    if read_only_copy_of is not None:
        subprocess.run(["mount", "--bind", str(read_only_copy_of), str(target)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
    else:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def images(root: Path, classes: int = 3, per_class: int = 4) -> Path:
    from PIL import Image
    import numpy as np
    rs = np.random.RandomState(0)
    for c in range(classes):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rs.randint(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / str(c) / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """An x86 export with ONNX, one stored host result, a labelled image folder, and an ARM export."""
    root = tmp_path_factory.mktemp("faults")
    p = run_mlite("export", "--model", MODEL, "--weights", "random", "--target", "x86", "--onnx", "--image-size", 32,
                  "--out", root / "x86", env=FAST)
    assert p.returncode == 0, p.stderr
    p = run_mlite("bench", "--local", "--model-dir", root / "x86" / MODEL, "--backend", "onnxruntime", "--threads", 1,
                  "--warmup", 0, "--repeats", 2, "--rounds", 1)
    assert p.returncode == 0, p.stderr
    p = run_mlite("export", "--model", MODEL, "--weights", "random", "--image-size", 32, "--out", root / "arm",
                  env=FAST)
    assert p.returncode == 0, p.stderr
    images(root / "data")
    return root


def copy_of(base: Path, rel: str, dst: Path) -> Path:
    shutil.copytree(base / rel, dst)
    return dst


# ---- --json on failure, for every command (no Paddle needed) -------------------------------------

@pytest.mark.parametrize("argv", [
    ["export", "--model", "NoSuchNet", "--weights", "random"],
    ["quantize", "--model-dir", "/nonexistent/dir"],
    ["eval", "--model-dir", "/nonexistent/dir", "--data", "/nonexistent/data"],
    ["push", "--adb", "--model-dir", "/nonexistent/dir"],
    ["bench", "--local", "--model-dir", "/nonexistent/dir"],
    ["run", "--models", "NoSuchNet", "--local"],
    ["report", "/nonexistent/results"],
    ["package", "--android", "--model-dir", "/nonexistent/dir"],
    ["distill", "--student", "NoSuchNet", "--teacher", "MobileNetV1", "--data", "/nonexistent"],
    ["export", "--modl", "x"],                                   # a usage error, caught by click
])
def test_every_command_answers_json_on_failure(argv, tmp_path):
    p = run_mlite(*argv, "--json", cwd=tmp_path)
    assert p.returncode != 0
    err = json.loads(p.stdout)["error"]          # stdout is exactly one JSON object
    assert err["message"] and err["kind"] and err["exit_code"] == p.returncode
    assert "Traceback" not in p.stderr


# ---- read-only output, results and home ---------------------------------------------------------

@needs_root
def test_read_only_output_for_every_writing_command(base, tmp_path):
    src = copy_of(base, ".", tmp_path / "src")
    before = snapshot(src)
    ro = tmp_path / "ro"
    with mounted(ro, read_only_copy_of=src):
        model = ro / "x86" / MODEL
        cases = [
            (["export", "--model", MODEL, "--weights", "random", "--target", "x86", "--seed", 1, "--out", ro / "new"],
             "read-only"),
            (["quantize", "--model-dir", model, "--out", ro / "q"], "--out"),
            (["report", ro / "x86", "-o", ro / "report.md"], "read-only"),
            (["push", "--adb", "--model-dir", ro / "arm" / MODEL], "--model-dir"),
            (["bench", "--local", "--model-dir", model, "--backend", "onnxruntime", "--threads", 1, "--repeats", 1],
             "--model-dir"),
            (["distill", "--student", MODEL, "--student-weights", "random", "--teacher", "MobileNetV1",
              "--data", base / "data", "--image-size", 32, "--out", ro / "d"], "--out"),
        ]
        for argv, needle in cases:
            failed_cleanly(run_mlite(*argv, env=FAST, timeout=300), needle)
            p = run_mlite(*argv, "--json", env=FAST, timeout=300)
            failed_cleanly(p, needle, as_json=True)
        # eval's numbers are complete before it stores them: a read-only model dir costs the record, not the result
        p = run_mlite("eval", "--model-dir", model, "--data", base / "data", "--json")
        assert p.returncode == 0, p.stderr
        r = json.loads(p.stdout)
        assert r["images"] == 12 and 0 <= r["top1"] <= 1 and any("not stored" in w for w in r["warnings"])
        assert "Traceback" not in p.stderr
    assert snapshot(src) == before and not leftovers(src)


@needs_root
def test_read_only_mlite_home(tmp_path):
    (tmp_path / "empty").mkdir()
    with mounted(tmp_path / "home", read_only_copy_of=tmp_path / "empty") as home:
        p = run_mlite("export", "--model", MODEL, "--weights", "pretrained", "--out", tmp_path / "o",
                      env={"MLITE_HOME": str(home)})
        failed_cleanly(p, str(home))
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# ---- full disks ---------------------------------------------------------------------------------

@needs_root
@pytest.mark.parametrize("size, extra", [("1m", []),               # the Paddle program itself
                                         ("3m", []),               # inside paddle_lite_opt (its fwrite check)
                                         ("5m", ["--onnx"])])      # the ONNX file
def test_full_output_disk(tmp_path, size, extra):
    with mounted(tmp_path / "full", size=size) as full:
        p = run_mlite("export", "--model", MODEL, "--weights", "random", "--target", "x86", *extra,
                      "--out", full / "o", env=FAST)
        line = failed_cleanly(p, "disk full", str(full / "o" / MODEL))
        assert ".partial-" not in line
        assert not leftovers(full) and not any((full / "o").iterdir())


@needs_root
def test_full_temp_disk(tmp_path):
    with mounted(tmp_path / "tmp", size="1m") as tmp:
        p = run_mlite("export", "--model", MODEL, "--weights", "random", "--target", "x86", "--onnx",
                      "--out", tmp_path / "o", env={**FAST, "TMPDIR": str(tmp)})
        failed_cleanly(p, "disk full", str(tmp))
        assert not leftovers(tmp, tmp_path / "o")


# ---- SIGTERM / SIGINT at several points -------------------------------------------------------------

def _interrupt_at_several_points(argv: list[str], out: Path, sig, scratch: Path) -> int:
    """Run ``argv`` (with --json) repeatedly, signalling it at points after its staging folder appears;
    each stopped run must fail cleanly and leave the scratch dir empty and ``out`` as it was, or, when the signal
    came while the new result was being published (held until that is done), holding the whole new result."""
    before = snapshot(out)
    stopped = 0
    for delay in (0.0, 0.4, 1.0, 2.0, 4.0):  # after the staging folder appears: Paddle, opt, ONNX/PTQ, checks
        proc = interruptible_mlite([MLITE, *map(str, argv), "--json"], env={**FAST, "TMPDIR": str(scratch)})
        deadline = time.time() + 120
        while proc.poll() is None and not list(out.glob(".*.partial-*")) and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stderr and "C++ Traceback" not in stdout + stderr, stderr
        if proc.returncode == 0:            # finished before the signal: a complete new result replaced the old
            break
        stopped += 1
        assert proc.returncode == (143 if sig == signal.SIGTERM else 130), stderr
        err = json.loads(stdout)["error"]                       # --json: only our error object on stdout
        assert err["kind"] == ("Terminated" if sig == signal.SIGTERM else "Interrupted")
        after = snapshot(out)
        if after != before:     # the signal came while the new result was published: that is never split
            _assert_whole_new_results(out, {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)})
            before = after
        assert not leftovers(out) and not list(scratch.iterdir()), list(scratch.iterdir())
    return stopped


def _assert_whole_new_results(out: Path, changed: set[str]) -> None:
    """Each top-level folder with a changed file holds a whole new result: a new manifest whose every file is
    there as recorded."""
    for name in {f.split("/")[0] for f in changed}:
        assert f"{name}/manifest.json" in changed, changed
        m = json.loads((out / name / "manifest.json").read_text())
        for a in m["artifacts"]:
            f = out / name / a["path"]
            assert f.stat().st_size == a["bytes"] and hashlib.sha256(f.read_bytes()).hexdigest() == a["sha256"], f


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_mid_export_leave_nothing_and_keep_the_earlier_result(base, tmp_path, sig):
    out = copy_of(base, "x86", tmp_path / "out")
    (tmp_path / "scratch").mkdir()
    # other settings than the stored export (seed 1): a finished run would replace it
    argv = ["export", "--model", MODEL, "--weights", "random", "--seed", 1, "--target", "x86", "--onnx",
            "--image-size", 32, "--out", out]
    assert _interrupt_at_several_points(argv, out, sig, tmp_path / "scratch") >= 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_mid_quantize_leave_nothing_and_keep_the_earlier_result(base, tmp_path, sig):
    out = copy_of(base, "arm", tmp_path / "out")
    (tmp_path / "scratch").mkdir()
    p = run_mlite("quantize", "--model-dir", out / MODEL, "--algo", "abs_max", "--onnx", env=FAST)
    assert p.returncode == 0, p.stderr
    # other settings than the stored INT8 result (algo hist): a finished run would replace it
    argv = ["quantize", "--model-dir", out / MODEL, "--algo", "hist", "--onnx"]
    assert _interrupt_at_several_points(argv, out, sig, tmp_path / "scratch") >= 2


def test_sigterm_mid_run_keeps_only_whole_results_and_a_rerun_finishes(tmp_path):
    """`mlite run` (export, INT8, host benchmark, results) stopped at several points: every folder it leaves
    holds a whole result, every stored measurement is a valid one, and a rerun completes what is missing."""
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir()
    argv = [MLITE, "run", "--models", MODEL, "--int8", "--local", "--weights", "random", "--threads", "1",
            "--warmup", "0", "--repeats", "2", "--out", str(out), "--json"]
    stopped = 0
    for delay in (1.5, 3.0, 5.0, 8.0, 12.0, 17.0, 23.0):   # from the start: export, ONNX, PTQ, checks, bench
        proc = interruptible_mlite(argv, env={**FAST, "TMPDIR": str(scratch)})
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stderr and "C++ Traceback" not in stdout + stderr, stderr
        if proc.returncode == 0:
            break
        stopped += 1
        assert proc.returncode == 143 and json.loads(stdout)["error"]["kind"] == "Terminated", stderr
        files = snapshot(out) if out.exists() else {}
        _assert_whole_new_results(out, set(files))
        for f in out.rglob("bench/*.json"):
            r = json.loads(f.read_text())
            assert r["perf"]["avg_ms"] > 0, f
        assert not leftovers(out) and not list(scratch.iterdir()), list(scratch.iterdir())
    assert stopped >= 2
    p = run_mlite(*argv[1:], env=FAST)
    assert p.returncode == 0, p.stderr
    assert [o["model"] for o in json.loads(p.stdout)] == [MODEL]
    assert len(list(out.rglob("bench/*.json"))) >= 2          # FP32 and INT8 measured on the host


def test_a_signal_after_the_result_is_out_changes_nothing(base, tmp_path):
    """Once the JSON result is on stdout the command has succeeded: SIGTERM during shutdown must not turn the
    exit into a kill (Python restores the default action while it finalizes) nor add an error object."""
    out = copy_of(base, "arm", tmp_path / "out")
    proc = interruptible_mlite([MLITE, "quantize", "--model-dir", str(out / MODEL), "--onnx", "--json"], env=FAST)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.rstrip("\n") == "}":               # the end of the top-level JSON object
            proc.send_signal(signal.SIGTERM)
            break
    rest, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    result = json.loads("".join(lines) + rest)     # exactly one JSON object: the result
    assert result["model"] == f"{MODEL}_int8" and (out / f"{MODEL}_int8" / "manifest.json").is_file()
    assert not leftovers(out)


def test_stale_partial_directories_are_removed_by_a_rerun(base, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = out / f".{MODEL}.partial-{dead.pid}-abcd1234"
    stale.mkdir()
    (stale / "inference.pdiparams").write_bytes(b"\0" * 4096)
    p = run_mlite("export", "--model", MODEL, "--weights", "random", "--target", "x86", "--image-size", 32,
                  "--out", out, env=FAST)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == [MODEL]


# ---- corrupt files of every kind we read --------------------------------------------------------------

def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 3])
    elif how == "flip":
        b = bytearray(data)
        for i in range(len(b) // 2, len(b) // 2 + 64):
            b[i] ^= 0xFF
        path.write_bytes(bytes(b))
    else:
        path.write_bytes(b"this is not a model\n" * 10)


def test_corrupt_pdparams(tmp_path):
    w = tmp_path / "w.pdparams"
    w.write_bytes(b"\x80\x04garbage" * 100)
    failed_cleanly(run_mlite("export", "--model", MODEL, "--weights", w, "--out", tmp_path / "o", env=FAST))
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("how", ["garbage", "truncate"])
def test_corrupt_pdmodel(base, tmp_path, how):
    d = copy_of(base, f"x86/{MODEL}", tmp_path / "m")
    _damage(d / "inference.pdmodel", how)
    before = snapshot(tmp_path)
    failed_cleanly(run_mlite("quantize", "--model-dir", d, "--calib", base / "data", "--out", tmp_path / "q"),
                   "inference.pdmodel")
    failed_cleanly(run_mlite("eval", "--model-dir", d, "--data", base / "data"), "inference.pdmodel")
    assert snapshot(tmp_path) == before


def test_corrupt_nb(base, tmp_path):
    d = copy_of(base, f"arm/{MODEL}", tmp_path / "m")
    _damage(d / f"{MODEL}.nb", "flip")
    app = tmp_path / "app"
    shutil.copytree(Path(__file__).resolve().parents[2] / "android_demo", app,
                    ignore=shutil.ignore_patterns("*.nb", "labels.txt", "config.json"))
    before = snapshot(tmp_path)
    failed_cleanly(run_mlite("push", "--adb", "--model-dir", d), f"{MODEL}.nb", "re-export")
    failed_cleanly(run_mlite("package", "--android", "--model-dir", d, "--app", app), f"{MODEL}.nb")
    assert snapshot(tmp_path) == before


def test_corrupt_onnx(base, tmp_path):
    d = copy_of(base, f"x86/{MODEL}", tmp_path / "m")
    _damage(d / f"{MODEL}.onnx", "truncate")
    failed_cleanly(run_mlite("eval", "--model-dir", d, "--data", base / "data", "--backend", "onnxruntime"),
                   f"{MODEL}.onnx")


def test_files_that_no_longer_match_their_manifest_are_used_by_no_command(base, tmp_path):
    """A loadable but changed file (64 flipped bytes in the weights) used to be evaluated (the top-1 stored in
    the manifest), quantized into a published INT8 model and benchmarked; every reader checks it the same way."""
    d = copy_of(base, f"x86/{MODEL}", tmp_path / "out" / MODEL)
    _damage(d / "inference.pdiparams", "flip")
    before = snapshot(tmp_path)
    for argv in (["eval", "--model-dir", d, "--data", base / "data"],
                 ["quantize", "--model-dir", d, "--calib", base / "data", "--out", tmp_path / "q"],
                 ["bench", "--local", "--model-dir", d, "--threads", 1, "--warmup", 0, "--repeats", 1],
                 ["push", "--adb", "--model-dir", d]):
        failed_cleanly(run_mlite(*argv, env=FAST), "inference.pdiparams", "damaged or replaced")
    assert snapshot(tmp_path) == before and not (tmp_path / "q").exists()


def test_report_output_never_replaces_what_mlite_wrote(base, tmp_path):
    out = copy_of(base, "x86", tmp_path / "out")
    d = out / MODEL
    before = snapshot(tmp_path)
    for target in (d / "manifest.json", d / f"{MODEL}.nb", d / "inference.pdmodel"):
        failed_cleanly(run_mlite("report", out, "-o", target), "would overwrite", "--output")
    failed_cleanly(run_mlite("report", out, "--plot", d / f"{MODEL}.onnx"), "would overwrite", "--plot")
    assert snapshot(tmp_path) == before
    p = run_mlite("report", out, "-o", d / "report.md")          # a new file beside them is fine
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("content", ["{not json", '{"stage": 3}', '["a list"]', ""])
def test_corrupt_manifest(base, tmp_path, content):
    d = copy_of(base, f"x86/{MODEL}", tmp_path / "out" / MODEL)
    (d / "manifest.json").write_text(content)
    before = snapshot(tmp_path)
    for argv in (["eval", "--model-dir", d, "--data", base / "data"],
                 ["quantize", "--model-dir", d, "--calib", base / "data"],
                 ["bench", "--local", "--model-dir", d, "--backend", "onnxruntime", "--threads", 1],
                 ["report", tmp_path / "out"],
                 ["export", "--model", MODEL, "--weights", "random", "--target", "x86", "--out", tmp_path / "out"]):
        failed_cleanly(run_mlite(*argv, env=FAST), "manifest.json")
    assert snapshot(tmp_path) == before


def test_corrupt_and_mistyped_result_files(base, tmp_path):
    out = copy_of(base, "x86", tmp_path / "out")
    result = next((out / MODEL / "bench").glob("*.json"))
    good = json.loads(result.read_text())
    for bad in ("{truncated", json.dumps({**good, "threads": "two"}), json.dumps({**good, "perf": ["fast"]}),
                json.dumps({**good, "perf": {**good["perf"], "avg_ms": float("nan")}}),
                json.dumps({**good, "storage_bytes": None}), json.dumps({**good, "device": "phone"})):
        result.write_text(bad)
        failed_cleanly(run_mlite("report", out), result.name)
        failed_cleanly(run_mlite("report", out, "--json"), result.name, as_json=True)


# ---- outputs never overlap ----------------------------------------------------------------------

def test_user_folders_with_non_identifier_names_get_their_own_int8_outputs(base, tmp_path):
    """net-a and net-b were both written to model_int8/: the second silently replaced the first."""
    for name in ("net-a", "net-b"):
        d = tmp_path / "models" / name
        d.mkdir(parents=True)
        for f in ("inference.pdmodel", "inference.pdiparams"):
            shutil.copy(base / "x86" / MODEL / f, d / f)
    outs = []
    for name in ("net-a", "net-b"):
        p = run_mlite("quantize", "--model-dir", tmp_path / "models" / name, "--calib", base / "data",
                      "--out", tmp_path / "q", "--json", env=FAST)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout)["directory"])
    assert len(set(outs)) == 2 and all(Path(o).is_dir() for o in outs)
    assert [Path(o).name.startswith(("net_a_", "net_b_")) for o in outs] == [True, True]
