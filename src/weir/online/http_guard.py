"""The feature server's front door: API keys, the request-body bound, and where it may listen without keys.

Both guards are plain ASGI middlewares, so they run before FastAPI reads or parses anything: a request without
a valid key, or with a body over the bound, costs the server no JSON parsing and no DynamoDB read.

* Keys come from ``WEIR_SERVE_API_KEYS`` (comma separated) and/or a file named by ``WEIR_SERVE_API_KEYS_FILE``
  (one key per line, ``#`` comments); a caller sends one as ``Authorization: Bearer <key>`` or
  ``X-API-Key: <key>``. Keys are compared as SHA-256 digests with :func:`hmac.compare_digest` against every
  configured key, so the time taken says nothing about how much of a key matched.
* With keys set, every path needs one except ``GET /healthz``, which then answers only ``{"status": "ok"}``
  to callers without a key (a load balancer's probe learns nothing else).
* :func:`bind_policy`: without keys the server may listen only on a loopback address, unless the operator
  opts out explicitly, and then it warns loudly.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KEYS_ENV = "WEIR_SERVE_API_KEYS"
KEYS_FILE_ENV = "WEIR_SERVE_API_KEYS_FILE"
MIN_KEY_LENGTH = 16  # shorter keys are guessable; `python -c "import secrets; print(secrets.token_urlsafe(32))"`
OPEN_PATHS = frozenset({"/healthz"})


class ServeConfigError(ValueError):
    """The server's security settings are unusable (a key too short, a missing key file, an unsafe bind)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class ApiKeys:
    """The accepted API keys, held as SHA-256 digests only."""

    digests: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: Iterable[str]) -> ApiKeys:
        clean = [k.strip() for k in keys if k.strip()]
        short = [k for k in clean if len(k) < MIN_KEY_LENGTH]
        if short:
            raise ServeConfigError(f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters; use long "
                                   "random keys, e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return cls(tuple(_digest(k) for k in clean))

    def __bool__(self) -> bool:
        return bool(self.digests)

    def accepts(self, candidate: str | None) -> bool:
        """Constant-time membership: every configured key is compared, whatever matched first."""
        if not candidate:
            return False
        d = _digest(candidate)
        hits = [hmac.compare_digest(d, k) for k in self.digests]
        return any(hits)


def load_api_keys(environ: MutableMapping[str, str] | None = None, keys_file: str | Path | None = None) -> ApiKeys:
    """Keys from ``WEIR_SERVE_API_KEYS`` and the key file (``keys_file`` or ``WEIR_SERVE_API_KEYS_FILE``)."""
    env = os.environ if environ is None else environ
    keys = env.get(KEYS_ENV, "").split(",")
    path = keys_file or env.get(KEYS_FILE_ENV)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ServeConfigError(f"cannot read the API key file {path}: {exc.strerror}; fix the path in "
                                   f"--api-keys-file or {KEYS_FILE_ENV}") from None
        keys += [line for line in lines if not line.lstrip().startswith("#")]
    return ApiKeys.of(keys)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); any other name counts as exposed."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_policy(host: str, keys: ApiKeys, allow_no_auth: bool) -> str | None:
    """Refuse an unauthenticated non-loopback bind unless opted out; returns the warning to print, if any."""
    if keys or is_loopback(host):
        return None
    if not allow_no_auth:
        raise ServeConfigError(
            f"refusing to serve on {host} without API keys: anyone who can reach it could read every feature. "
            f"Set {KEYS_ENV} or {KEYS_FILE_ENV} (or --api-keys-file), bind to 127.0.0.1, or pass "
            "--insecure-no-auth if a trusted proxy in front of it authenticates callers")
    return (f"WARNING: serving on {host} WITHOUT AUTHENTICATION (--insecure-no-auth). Every client that can "
            "reach this address can read every feature. Put an authenticating proxy in front of it or set "
            f"{KEYS_ENV}.")


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


def presented_key(scope: Scope) -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = _header(scope, b"authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return _header(scope, b"x-api-key")


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode("ascii")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class ApiKeyMiddleware:
    """401 for a request without a valid key (except the open health probe); off when no keys are set."""

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys:
            await self.app(scope, receive, send)
            return
        ok = self.keys.accepts(presented_key(scope))
        scope.setdefault("state", {})["authenticated"] = ok
        if ok or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        await send_json(send, 401, {"detail": "missing or invalid API key; send 'Authorization: Bearer <key>' "
                                              "or 'X-API-Key: <key>'"},
                        headers=[(b"www-authenticate", b'Bearer realm="weir"')])


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: by ``Content-Length`` before reading, else as soon as the stream passes it.

    The body is read here (bounded) and handed to the app whole, so nothing downstream can read more.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_bytes):
            await self._reject(send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = bytes(message.get("body", b""))
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        await send_json(send, 413, {"detail": f"request body larger than {self.max_bytes} bytes; "
                                              "split the request"},
                        headers=[(b"connection", b"close")])
