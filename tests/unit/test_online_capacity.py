"""Capacity units from item sizes, checked against cases computed by hand from DynamoDB's published rules."""

from __future__ import annotations

import pytest

from weir.online.capacity import (
    batch_read_units,
    item_size,
    number_size,
    read_units,
    update_write_units,
    value_size,
    write_units,
)


@pytest.mark.parametrize(("number", "size"), [
    (0, 1), (7, 2), (12, 2), (123, 3), (1000, 2),  # trailing zeros trimmed: 1000 -> "1"
    (1_764_547_200_000_000, 5),  # epoch micros of a day boundary: digits 1764547200000000 -> "17645472", 8 -> 4+1
    (1_764_547_212_345_678, 9),  # 16 significant digits -> 8 + 1
    (0.5, 2), (-12.25, 3), (0.001, 2),
])
def test_number_size_is_a_byte_per_two_significant_digits_plus_one(number: float, size: int) -> None:
    assert number_size(number) == size


def test_numbers_dynamodb_cannot_store_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot store"):
        number_size(float("nan"))


def test_item_size_counts_names_and_values() -> None:
    # "pk"(2) + "u1"(2) = 4; "tiles"(5) + 100 raw bytes = 105; "run_us"(6) + 1764547200000000 (8 digits) 5 = 11;
    # "ok"(2) + bool 1 = 3; "m"(1) + map: 3 + ("a": 1 + 1 + number 7 -> 2) + ("bb": 1 + 2 + 1000 -> 2) = 1 + 12 = 13
    item = {"pk": "u1", "tiles": b"x" * 100, "run_us": 1_764_547_200_000_000, "ok": True, "m": {"a": 7, "bb": 1000}}
    assert item_size(item) == 4 + 105 + 11 + 3 + 13
    assert value_size([]) == 3 and value_size({}) == 3 and value_size(["é"]) == 3 + 1 + 2
    assert value_size(None) == 1


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        value_size({1, 2})


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (3 * 1024, 3), (400_000, 391)])
def test_write_units_round_each_started_kb_up(size: int, units: int) -> None:
    assert write_units(size) == units


def test_an_update_is_charged_for_the_larger_of_before_and_after() -> None:
    assert update_write_units(None, 500) == 1
    assert update_write_units(5000, 500) == 5  # shrinking an item still pays for the old size
    assert update_write_units(500, 2049) == 3


def test_reads_round_each_item_to_4kb_and_eventual_reads_cost_half() -> None:
    assert read_units(100, consistent=True) == 1.0
    assert read_units(100) == 0.5
    assert read_units(4096) == 0.5 and read_units(4097) == 1.0
    assert read_units(None) == 0.5  # a missing key still costs a step
    assert read_units(9000, consistent=True) == 3.0


def test_batch_get_rounds_each_item_separately() -> None:
    # two 2 KB items: 4 KB together, but each is rounded up on its own -> 2 steps, not 1
    assert batch_read_units([2048, 2048], consistent=True) == 2.0
    assert batch_read_units([2048, 2048, None]) == 1.5
