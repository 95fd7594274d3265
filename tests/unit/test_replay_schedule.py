"""The rebuild's bulk schedule keeps each stream's order and groups across streams."""

from projections.replay import schedule


def test_rounds_keep_each_streams_order_and_group_by_statement() -> None:
    a = [("INSERT m", [("a",)]), ("UPDATE m", [("a", 1)]), ("UPDATE m", [("a", 2)])]
    b = [("INSERT m", [("b",)]), ("LOG", [("b", 0), ("b", 1)])]
    c = [("UPDATE m", [("c", 1)])]
    rounds = schedule([a, b, c])
    assert rounds == [
        [("INSERT m", [("a",), ("b",)]), ("UPDATE m", [("c", 1)])],
        [("UPDATE m", [("a", 1)]), ("LOG", [("b", 0), ("b", 1)])],
        [("UPDATE m", [("a", 2)])],
    ]


def test_nothing_to_schedule() -> None:
    assert schedule([]) == []
    assert schedule([[]]) == []
