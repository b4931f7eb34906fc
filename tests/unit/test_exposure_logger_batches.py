"""The exposure logger writes a burst of records in one sink call (it lingers after the first), so a sink's own
work runs once per burst, not once per flag check (bench/bench_flags.py measures what that saves the caller)."""

from __future__ import annotations

from collections.abc import Sequence

from weir.experiments.exposures import Exposure, ExposureLogger


class CountingSink:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def write(self, batch: Sequence[Exposure]) -> None:
        self.batches.append(len(batch))


def test_a_burst_goes_to_the_sink_in_one_write_and_nothing_is_lost() -> None:
    sink = CountingSink()
    logger = ExposureLogger(sink, linger_s=0.5)
    try:
        for i in range(40):
            logger.log(Exposure("f", "flag", "user", f"u{i}", "on", "s", "SPLIT", 1.0))
        assert logger.flush(10)
    finally:
        logger.close()
    assert sum(sink.batches) == 40
    assert sink.batches == [40]


def test_close_does_not_wait_for_the_linger() -> None:
    import time

    sink = CountingSink()
    logger = ExposureLogger(sink, linger_s=30)
    logger.log(Exposure("f", "flag", "user", "u1", "on", "s", "SPLIT", 1.0))
    time.sleep(0.1)  # the drain thread has the record and lingers
    began = time.monotonic()
    logger.close()
    assert time.monotonic() - began < 5
    assert sink.batches == [1]  # drained on close
