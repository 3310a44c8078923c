import json
from pathlib import Path

import pytest

from toolkit.artifacts import (SUPERSEDED, Artifact, Manifest, check_replace, ensure_writable_dir, is_complete,
                               remove_stale, settings_key, staging_dir, temp_dir)
from toolkit.errors import OutputError


def _make(tmp_path, key="k1", stage="export", extra=None):
    final = tmp_path / "M"
    with staging_dir(final) as d:
        (d / "a.bin").write_bytes(b"hello")
        Manifest(stage, "M", key, {"x": 1}, {}, [Artifact.of(d, "a.bin", "raw", "any")], extra or {}).write(d)
    return final


def test_staging_publishes_and_manifest_verifies(tmp_path):
    final = _make(tmp_path)
    m = is_complete(final, "k1")
    assert m is not None and m.artifacts[0].bytes == 5
    assert len(m.artifacts[0].sha256) == 64
    assert is_complete(final, "other-key") is None
    (final / "a.bin").write_bytes(b"hellO")          # same size, different content
    assert is_complete(final, "k1") is None
    assert [p.name for p in tmp_path.iterdir()] == ["M"]


def test_failure_inside_staging_keeps_old_result_and_leaves_no_temp(tmp_path):
    final = _make(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with staging_dir(final) as d:
            (d / "a.bin").write_bytes(b"partial")
            raise KeyboardInterrupt
    assert (final / "a.bin").read_bytes() == b"hello"
    assert [p.name for p in tmp_path.iterdir()] == ["M"]


def test_republish_replaces(tmp_path):
    _make(tmp_path, "k1")
    final = _make(tmp_path, "k2")
    assert json.loads((final / "manifest.json").read_text())["key"] == "k2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M"]


def test_settings_key_is_order_independent():
    assert settings_key({"a": 1, "b": [1, 2]}) == settings_key({"b": [1, 2], "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})


def test_unwritable_output_is_one_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="cannot write to --out"):
        ensure_writable_dir(f / "sub")


def test_published_files_and_dirs_get_normal_modes(tmp_path):
    import os
    final = _make(tmp_path)
    mask = os.umask(0o022)
    os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~mask
    assert (final / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~mask


def _dead_pid() -> int:
    import subprocess
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_another_kind_of_artifact_or_a_foreign_folder_is_never_replaced(tmp_path):
    final = _make(tmp_path, stage="distill")
    with pytest.raises(OutputError, match="holds the distill result of M"):
        check_replace(final, "export")
    assert check_replace(final, "distill") is not None          # same kind: replaced, and said so
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("user data")
    with pytest.raises(OutputError, match="not an mlite export result"):
        check_replace(tmp_path / "mine", "export")
    assert check_replace(tmp_path / "absent", "export") is None


def test_a_result_of_another_source_is_not_replaced(tmp_path):
    final = _make(tmp_path, stage="quantize", extra={"source": {"directory": "/a/net"}})
    with pytest.raises(OutputError, match="another source"):
        check_replace(final, "quantize", {"source.directory": "/b/net"})
    assert "replaced the earlier quantize result" in check_replace(final, "quantize", {"source.directory": "/a/net"})


def test_replacing_keeps_stored_results_under_superseded(tmp_path):
    final = _make(tmp_path, "k1aaaaaaaaaaaa")
    (final / "bench").mkdir()
    (final / "bench" / "r.json").write_text("{}")
    _make(tmp_path, "k2")
    kept = final / SUPERSEDED / "k1aaaaaaaaaa"
    assert (kept / "bench" / "r.json").read_text() == "{}"
    assert json.loads((kept / "manifest.json").read_text())["key"] == "k1aaaaaaaaaaaa"
    assert not (final / "bench").exists()


def test_leftovers_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    import os
    dead, live = _dead_pid(), os.getppid()
    for name in (f".M.partial-{dead}-abc", ".M.partial-legacy1", f".M.old-{dead}-x", f".M.partial-{live}-abc"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "big.bin").write_bytes(b"x" * 100)
    _make(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["M", f".M.partial-{live}-abc"])


def test_scratch_dirs_of_dead_processes_are_swept(tmp_path, monkeypatch):
    import os
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = _dead_pid()
    for name in (f"mlite-onnx-{dead}-abc", f"mlite-onnx-{os.getppid()}-abc", "mlite-onnx-nopid", "other-1-2"):
        (tmp_path / name).mkdir()
    with temp_dir("onnx") as d:
        assert Path(d).name.startswith(f"mlite-onnx-{os.getpid()}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"mlite-onnx-{os.getppid()}-abc", "mlite-onnx-nopid", "other-1-2"])
    assert remove_stale(tmp_path, "mlite-*", "mlite-onnx-") == []
