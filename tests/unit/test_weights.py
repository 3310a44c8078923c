import pytest

from tests.fixtures.http_mirror import closed_port_url, save_state, serve_directory
from toolkit import weights, zoo
from toolkit.errors import WeightsError, WeightsUnavailable


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
    spec = zoo.get("MobileNetV1_x0_25")
    bad = mlite_home / "weights" / "MobileNetV1_x0_25_pretrained.pdparams"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"<html>captive portal</html>")
    w = weights.resolve(spec, "pretrained")
    with pytest.raises(WeightsError, match="not a valid .pdparams"):
        weights.load_into(object(), w, spec.name)
    assert not bad.exists()
