"""The local broker's KRaft cluster id never starts with ``-`` (the storage tool would take it for an option)."""

from __future__ import annotations

import base64
import uuid

from weir.devstack.kafka import _cluster_id


def test_an_id_that_would_start_with_a_dash_is_drawn_again() -> None:
    dash = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))  # base64 text "-AAA..."
    draws = iter([dash, dash, uuid.UUID(int=7)])
    got = _cluster_id(lambda: next(draws))
    assert not got.startswith("-")
    assert got == base64.urlsafe_b64encode(uuid.UUID(int=7).bytes).decode().rstrip("=")


def test_ids_are_22_url_safe_characters() -> None:
    for _ in range(500):
        got = _cluster_id()
        assert len(got) == 22 and not got.startswith("-")
        assert uuid.UUID(bytes=base64.urlsafe_b64decode(got + "=="))
