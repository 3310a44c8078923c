import json

import pytest

from toolkit.artifacts import (Artifact, Manifest, ensure_writable_dir, is_complete, settings_key,
                               staging_dir)
from toolkit.errors import OutputError


def _make(tmp_path, key="k1"):
    final = tmp_path / "M"
    with staging_dir(final) as d:
        (d / "a.bin").write_bytes(b"hello")
        Manifest("export", "M", key, {"x": 1}, {}, [Artifact.of(d, "a.bin", "raw", "any")]).write(d)
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
