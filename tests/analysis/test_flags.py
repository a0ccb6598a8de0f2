from uvscope.analysis.flags import Flag, ordered


def test_flag_round_trips_through_a_dict():
    flag = Flag("blasts", "Blasts seen: 2 of 200 WBCs", "any blast counted", critical=True)
    assert Flag.from_dict(flag.to_dict()) == flag


def test_critical_flags_come_first_in_the_order_raised():
    a = Flag("a", "A", "r")
    b = Flag("b", "B", "r", critical=True)
    c = Flag("c", "C", "r")
    d = Flag("d", "D", "r", critical=True)
    assert [f.code for f in ordered([a, b, c, d])] == ["b", "d", "a", "c"]
