"""mlite run --jobs: export groups start longest first (PaddleClas's FLOPs), so no worker idles at the end."""
from toolkit import zoo
from toolkit.run import _work


def test_bigger_models_start_first():
    names = ["MobileNetV3_small_x0_35", "MobileNetV2_x2_0", "ShuffleNetV2_x0_25", "MobileNetV1"]
    order = sorted(names, key=lambda n: _work([n]), reverse=True)
    assert order[:2] == ["MobileNetV2_x2_0", "MobileNetV1"] and order[-1] in ("MobileNetV3_small_x0_35",
                                                                              "ShuffleNetV2_x0_25")
    flops = [zoo.get(n).reference.flops_g for n in order]
    assert flops == sorted(flops, reverse=True)


def test_a_group_counts_all_its_models():
    assert _work(["MobileNetV1", "MobileNetV1_ssld"]) > _work(["MobileNetV1"])
