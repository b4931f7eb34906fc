"""Consumer lag from a streaming query's progress and Kafka's end offsets (pure parts of weir.stream.monitor)."""

from __future__ import annotations

from weir.stream.monitor import consumer_lag, processed_offsets


def test_processed_offsets_read_every_source_in_either_form() -> None:
    progress = {"sources": [{"endOffset": {"t": {"0": 24, "1": 3}}}, {"endOffset": '{"u": {"0": 5}}'},
                            {"endOffset": None}]}
    assert processed_offsets(progress) == {("t", 0): 24, ("t", 1): 3, ("u", 0): 5}
    assert processed_offsets(None) == {}
    assert processed_offsets({"sources": []}) == {}


def test_lag_is_end_minus_processed_and_never_negative() -> None:
    end = {("t", 0): 30, ("t", 1): 7, ("t", 2): 4}
    done = {("t", 0): 24, ("t", 1): 9}  # partition 1 read past a stale end offset: lag 0, not -2
    assert consumer_lag(end, done) == {("t", 0): 6, ("t", 1): 0, ("t", 2): 4}
