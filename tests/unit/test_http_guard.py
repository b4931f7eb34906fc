"""The feature server's front-door rules that need no server: key loading, loopback detection, the bind policy,
and SECURITY.md's numbers matching the code (so the document cannot drift from what is enforced)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from weir.online.http_guard import (
    KEYS_ENV,
    KEYS_FILE_ENV,
    MIN_KEY_LENGTH,
    ApiKeys,
    ServeConfigError,
    bind_policy,
    is_loopback,
    load_api_keys,
)
from weir.online.server import MAX_DETAIL, ServeLimits, clip

ROOT = Path(__file__).resolve().parents[2]
K1, K2, K3 = "first-key-0123456789", "second-key-0123456789", "third-key-0123456789"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("LOCALHOST", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.internal", False),
    ("", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_keys_from_env_and_file(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text(f"# comment\n{K2}\n\n  {K3}  \n")
    keys = load_api_keys({KEYS_ENV: f" {K1} ,", KEYS_FILE_ENV: str(f)})
    assert len(keys.digests) == 3 and all(keys.accepts(k) for k in (K1, K2, K3))
    assert not keys.accepts("# comment")
    assert not load_api_keys({})  # nothing configured: no check
    assert load_api_keys({}, keys_file=f).accepts(K2)


def test_bad_key_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ServeConfigError, match=f"shorter than {MIN_KEY_LENGTH}"):
        load_api_keys({KEYS_ENV: "short"})
    with pytest.raises(ServeConfigError, match="cannot read the API key file"):
        load_api_keys({KEYS_FILE_ENV: str(tmp_path / "absent")})


def test_bind_policy() -> None:
    none, some = ApiKeys(()), ApiKeys.of([K1])
    assert bind_policy("127.0.0.1", none, False) is None
    assert bind_policy("0.0.0.0", some, False) is None
    with pytest.raises(ServeConfigError, match="refusing to serve on 0.0.0.0 without API keys"):
        bind_policy("0.0.0.0", none, False)
    warning = bind_policy("0.0.0.0", none, True)
    assert warning is not None and "WITHOUT AUTHENTICATION" in warning


def test_clip_never_sends_a_long_or_unencodable_message() -> None:
    out = clip("x" * 10_000 + "\ud800")
    assert len(out) <= MAX_DETAIL and out.endswith("(clipped)")
    assert clip("bad \ud800 key").encode("utf-8") == b"bad \\ud800 key"


def test_security_md_states_the_enforced_numbers() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    limits = ServeLimits()
    assert limits.max_body_bytes == 1 << 20 and "1 MiB" in text
    for number in (limits.max_entities, limits.max_features, limits.max_keys_per_entity, limits.max_text_chars,
                   MAX_DETAIL, MIN_KEY_LENGTH):
        assert re.search(rf"\b{number:,}\b|\b{number}\b", text), number
    for name in (KEYS_ENV, KEYS_FILE_ENV, "--insecure-no-auth", "--api-keys-file", "WEIR_BIND", ".env.example"):
        assert name in text, name
    for policy in (ROOT / "ops" / "iam").glob("*.json"):
        assert f"`{policy.stem}`" in text, policy.name
