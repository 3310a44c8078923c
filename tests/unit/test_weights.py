import errno
import json
import re

import pytest

from tests.conftest import assert_one_line_error, run_mlite
from tests.fixtures.http_mirror import closed_port_url, save_state, serve_directory
from toolkit import weights, zoo
from toolkit.artifacts import sha256_file
from toolkit.errors import CacheUnwritable, CorruptDownload, OutputError, WeightsError, WeightsUnavailable

SMALL = "MobileNetV1_x0_25"
SMALL_URL_PATH = "dygraph/legendary_models/MobileNetV1_x0_25_pretrained.pdparams"


def test_random_is_explicit_and_labelled():
    w = weights.resolve(zoo.get("MobileNetV1_x0_25"), "random", seed=7)
    assert w.identity == "random:7" and "latency/size only" in w.label


def test_ssld_names_use_ssld_urls(monkeypatch):
    monkeypatch.delenv("MLITE_WEIGHTS_MIRROR", raising=False)
    base = weights.pretrained_url(zoo.get("MobileNetV3_large_x1_0"))
    ssld = weights.pretrained_url(zoo.get("MobileNetV3_large_x1_0_ssld"))
    assert base.endswith("/MobileNetV3_large_x1_0_pretrained.pdparams")
    assert ssld.endswith("/MobileNetV3_large_x1_0_ssld_pretrained.pdparams")
    assert weights.pretrained_url(zoo.get("GhostNet_x1_3_ssld")).endswith("GhostNet_x1_3_ssld_pretrained.pdparams")
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", "http://mirror.local/paddle/")
    assert weights.pretrained_url(zoo.get("MobileNetV1")) == \
        "http://mirror.local/paddle/dygraph/legendary_models/MobileNetV1_pretrained.pdparams"


def test_missing_and_wrong_kind_files(tmp_path):
    spec = zoo.get("MobileNetV1_x0_25")
    with pytest.raises(WeightsError, match="does not exist"):
        weights.resolve(spec, str(tmp_path / "nope.pdparams"))
    other = tmp_path / "w.pth"
    other.write_bytes(b"x")
    with pytest.raises(WeightsError, match="not a .pdparams"):
        weights.resolve(spec, str(other))


def test_pretrained_download_caches_then_works_offline(tmp_path, mlite_home, monkeypatch):
    spec = zoo.get("MobileNetV1_x0_25")
    site = tmp_path / "site"
    save_state(spec.module, spec.arch, site / "dygraph/legendary_models/MobileNetV1_x0_25_pretrained.pdparams")
    with serve_directory(site) as url:
        monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", url)
        w = weights.resolve(spec, "pretrained")
    assert w.path == mlite_home / "weights" / "MobileNetV1_x0_25_pretrained.pdparams"
    assert w.path.stat().st_size == (site / "dygraph/legendary_models/MobileNetV1_x0_25_pretrained.pdparams").stat().st_size
    assert not [p for p in w.path.parent.iterdir() if p.name.endswith(".part")]
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", closed_port_url())   # server gone: the cache serves
    assert weights.resolve(spec, "pretrained").sha256 == w.sha256


def test_offline_download_says_what_to_do(mlite_home, monkeypatch):
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", closed_port_url())
    with pytest.raises(WeightsUnavailable, match="--weights PATH .* --weights random"):
        weights.resolve(zoo.get("GhostNet_x0_5"), "pretrained")
    assert not list((mlite_home / "weights").glob("*"))


def test_mismatched_weights_name_the_keys(tmp_path):
    from toolkit.paddle_env import import_arch, import_paddle
    paddle = import_paddle()
    big = zoo.get("MobileNetV1_x0_5")
    f = save_state(big.module, big.arch, tmp_path / "x0_5.pdparams")
    small = zoo.get("MobileNetV1_x0_25")
    with paddle.utils.unique_name.guard():
        model = import_arch(small.module, small.arch)(pretrained=False)
    w = weights.resolve(small, str(f))
    with pytest.raises(WeightsError, match=r"do not match MobileNetV1_x0_25: \d+ mismatched keys, first: "):
        weights.load_into(model, w, small.name)


def test_corrupt_cached_download_is_removed(tmp_path, mlite_home):
    """A bad file already in the cache (from a version without download records) is checked and evicted."""
    spec = zoo.get(SMALL)
    bad = mlite_home / "weights" / "MobileNetV1_x0_25_pretrained.pdparams"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(CorruptDownload, match=r"cached download of \S+ is corrupt .*removed it from the cache"):
        weights.resolve(spec, "pretrained")
    assert not bad.exists()


def test_unreadable_cached_file_is_evicted_when_read(mlite_home):
    bad = mlite_home / "weights" / "X_pretrained.pdparams"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a pickle")
    w = weights.Weights(weights.PRETRAINED, path=bad, url="http://h/X_pretrained.pdparams", sha256="0")
    with pytest.raises(CorruptDownload, match="is corrupt .*removed it from the cache .*rerun to download it again"):
        weights.load_into(object(), w, SMALL)
    assert not bad.exists()


# ---- verified downloads (issue #12: a bad download must not poison the cache) ------------------

def _serve_and_resolve(site, monkeypatch, spec=None):
    spec = spec or zoo.get(SMALL)
    with serve_directory(site) as url:
        monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", url)
        return weights.resolve(spec, "pretrained")


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.slow
def test_corrupt_download_is_removed_and_a_rerun_downloads_again(tmp_path, mlite_home, monkeypatch):
    site = tmp_path / "site"
    (site / SMALL_URL_PATH).parent.mkdir(parents=True)
    (site / SMALL_URL_PATH).write_bytes(b"<html>502 Bad Gateway</html>" * 100)
    cached = mlite_home / "weights" / "MobileNetV1_x0_25_pretrained.pdparams"
    with pytest.raises(CorruptDownload) as e:
        _serve_and_resolve(site, monkeypatch)
    msg = _one_line(e)
    assert msg.startswith("cached download of http://127.0.0.1:") and SMALL_URL_PATH in msg
    assert "is corrupt" in msg and f"removed it from the cache ({str(cached)!r})" in msg
    assert "rerun to download it again" in msg
    assert not cached.exists() and not list(cached.parent.iterdir())
    spec = zoo.get(SMALL)
    good = save_state(spec.module, spec.arch, site / SMALL_URL_PATH)      # the server is fixed
    w = _serve_and_resolve(site, monkeypatch)
    assert w.path == cached and w.sha256 == sha256_file(good)
    record = json.loads((cached.parent / (cached.name + ".sha256.json")).read_text())
    assert record["sha256"] == w.sha256 and record["bytes"] == good.stat().st_size


@pytest.mark.slow
def test_wrong_architecture_download_is_removed(tmp_path, mlite_home, monkeypatch):
    big = zoo.get("MobileNetV1_x0_5")
    save_state(big.module, big.arch, tmp_path / "site" / SMALL_URL_PATH)   # x0_5 weights under x0_25's name
    with pytest.raises(CorruptDownload) as e:
        _serve_and_resolve(tmp_path / "site", monkeypatch)
    msg = _one_line(e)
    assert re.search(r"does not match MobileNetV1_x0_25 \(\d+ mismatched keys, first: ", msg), msg
    assert "removed it from the cache" in msg and "rerun to download it again" in msg
    assert not list((mlite_home / "weights").iterdir())


@pytest.mark.slow
def test_cached_file_changed_on_disk_is_detected_and_removed(tmp_path, mlite_home, monkeypatch):
    spec = zoo.get(SMALL)
    save_state(spec.module, spec.arch, tmp_path / "site" / SMALL_URL_PATH)
    w = _serve_and_resolve(tmp_path / "site", monkeypatch)
    record = w.path.with_name(w.path.name + ".sha256.json")
    assert record.is_file()
    data = bytearray(w.path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])     # same size; may well still load
    w.path.write_bytes(bytes(data))
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", closed_port_url())          # no silent re-download
    with pytest.raises(CorruptDownload) as e:
        weights.resolve(spec, "pretrained")
    msg = _one_line(e)
    assert "changed on disk since it was verified (size/sha256 differ from its record)" in msg
    assert f"removed it from the cache ({str(w.path)!r})" in msg and "rerun to download it again" in msg
    assert not w.path.exists() and not record.exists()
    again = _serve_and_resolve(tmp_path / "site", monkeypatch)               # the rerun downloads it again
    assert again.sha256 == w.sha256 and record.is_file()


def test_home_that_is_not_a_directory_says_set_mlite_home(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("a regular file")
    home = tmp_path / "file" / "home"                       # mkdir fails with ENOTDIR, even for root
    monkeypatch.setenv("MLITE_HOME", str(home))
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", closed_port_url())
    with pytest.raises(CacheUnwritable) as e:
        weights.resolve(zoo.get(SMALL), "pretrained")
    assert isinstance(e.value, OutputError)
    msg = _one_line(e)
    assert str(home / "weights") in msg and "set MLITE_HOME to a writable directory" in msg


def test_read_only_cache_says_set_mlite_home(mlite_home, monkeypatch):
    """A read-only cache (simulated: root ignores permission bits, so chmod cannot block the test)."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(weights.tempfile, "mkstemp", read_only)
    monkeypatch.setenv("MLITE_WEIGHTS_MIRROR", closed_port_url())
    with pytest.raises(CacheUnwritable, match=r"cannot write to the weights cache .*\(Read-only file system\); "
                                              "set MLITE_HOME to a writable directory"):
        weights.resolve(zoo.get(SMALL), "pretrained")


def test_unwritable_home_is_one_line_in_the_cli(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    p = run_mlite("export", "--model", SMALL, "--target", "x86", "--out", tmp_path / "out",
                  env={"MLITE_HOME": str(tmp_path / "file" / "home"), "MLITE_WEIGHTS_MIRROR": closed_port_url()})
    assert_one_line_error(p, "cannot write to the weights cache", "set MLITE_HOME to a writable directory")
