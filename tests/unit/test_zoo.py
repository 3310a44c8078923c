import pytest

from toolkit import zoo
from toolkit.errors import InvalidName, UnknownModel


def test_registry_has_the_37_seed_models_in_order():
    reg = zoo.registry()
    assert len(reg) == 37
    names = list(reg)
    assert names[0] == "MobileNetV1_x0_25" and names[-1] == "GhostNet_x1_3_ssld"
    counts = {}
    for s in reg.values():
        counts[s.family] = counts.get(s.family, 0) + 1
    assert counts == {"MobileNetV1": 5, "MobileNetV2": 7, "MobileNetV3": 14, "ShuffleNetV2": 7, "GhostNet": 4}


def test_ssld_int8_and_aliases_parse():
    s = zoo.get("MobileNetV3_large_x1_0_ssld_int8")
    assert (s.arch, s.ssld, s.int8) == ("MobileNetV3_large_x1_0", True, True)
    assert s.reference.top1 == pytest.approx(0.761) and s.reference.top5 is None
    assert zoo.get("ShuffleNetV2").arch == "ShuffleNetV2_x1_0"
    g = zoo.get("GhostNet_x1_3_ssld")
    assert g.ssld and not g.int8 and g.arch == "GhostNet_x1_3"
    assert g.reference.sd855_ms_t2 == pytest.approx(17.85)


def test_empty_cells_are_none_not_zero():
    s = zoo.get("MobileNetV3_small_x0_35_ssld")
    assert s.reference.sd855_ms_t1 is None and s.reference.storage_mb == pytest.approx(6.9)


@pytest.mark.parametrize("bad", ["a/b", "../MobileNetV1", "..", "MobileNet V1", "x'; touch /tmp/p; '", "", "-rf"])
def test_invalid_names_are_rejected(bad):
    with pytest.raises(InvalidName, match="invalid model name"):
        zoo.get(bad)


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownModel) as e:
        zoo.get("MobileNetV3_small_x1")
    assert "MobileNetV3_small_x1_0" in str(e.value)
    with pytest.raises(UnknownModel, match="mlite models"):
        zoo.get("Qwertyuiop")


def test_every_arch_exists_in_paddleclas():
    import importlib
    for s in zoo.registry().values():
        mod = importlib.import_module(s.module)
        assert s.arch in mod.MODEL_URLS, s.name
        assert callable(getattr(mod, s.arch))
