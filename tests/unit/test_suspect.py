from toolkit import suspect


def test_reference_table_flags_exactly_the_known_oddities():
    flags = suspect.flag(suspect.reference_rows())
    got = {(f.model, f.column): f.rule for f in flags}
    assert got == {("ShuffleNetV2_swish", "t1"): "R1",
                   ("GhostNet_x1_3_ssld", "t2"): "R1+R2",
                   ("ShuffleNetV2_x0_33", "t4"): "R3"}
    swish = next(f for f in flags if f.model == "ShuffleNetV2_swish")
    assert swish.value == 31.21 and "ShuffleNetV2_x2_0" in swish.reason


def _row(name, arch, flops, t1, t2, t4, precision="fp32"):
    return suspect.Row(name, arch, precision, flops, {"t1": t1, "t2": t2, "t4": t4})


def test_each_rule_on_its_own():
    rows = [_row("A", "A", 1.0, 10, 6, 4), _row("B", "B", 0.2, 10, 2, 1.5)]
    assert {(f.model, f.rule) for f in suspect.flag(rows)} == {("A", "R1")} or \
        {(f.model, f.rule) for f in suspect.flag(rows)} == {("B", "R1")}
    same_compute = [_row("A", "A", 1.0, 10, 6, 4), _row("B", "B", 1.5, 10, 7, 5)]
    assert suspect.flag(same_compute) == []
    ssld = [_row("M", "M", 1.0, 10, 6, 4), _row("M_ssld", "M", 1.0, 10, 6, 4.9)]
    assert [(f.model, f.column, f.rule) for f in suspect.flag(ssld)] != []
    int8 = [_row("M", "M", 1.0, 10, 6, 4), _row("M_int8", "M", 1.0, 7, 4, 3, "int8")]
    assert suspect.flag(int8) == []
    slower = [_row("S", "S", 1.0, 10, 6, 6.5)]
    assert [(f.column, f.rule) for f in suspect.flag(slower)] == [("t4", "R3")]
