"""Bearer checks and ``POST /oauth/v1/token`` (client-credentials grant)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from ._wire import dumps, flat_error, new_id

__all__ = ["Tokens"]

_PRUNE_ABOVE: Final = 10_000


class Tokens:
    """Which bearers the server accepts, and the token endpoint that mints more.

    Every accepted token has a *serial*: 0 for the static token (or any bearer when
    ``static`` is ``None``), 1, 2, ... for minted ones. :meth:`Fault.expire_token` uses the
    serial to tell tokens that existed at injection time from fresher ones.
    """

    def __init__(
        self,
        *,
        static: str | None,
        client_id: str,
        client_secret: str,
        ttl: float,
        reply: str,
        clock: Callable[[], float],
    ) -> None:
        if reply not in ("wrapped", "flat"):
            raise ValueError('token_reply must be "wrapped" or "flat"')
        self._static = static
        self._client_id = client_id
        self._client_secret = client_secret
        self._ttl = ttl
        self._reply = reply
        self._clock = clock
        self._minted: dict[str, tuple[int, float]] = {}  # token -> (serial, expires at)
        self._serials = itertools.count(1)
        self.last_serial = 0

    def serial_of(self, authorization: str | None) -> int | None:
        """Return the serial of the bearer in an ``Authorization`` value, or ``None`` (401)."""
        if authorization is None or not authorization.startswith("Bearer "):
            return None
        token = authorization[7:].strip()
        if not token:
            return None
        if token == self._static:
            return 0
        minted = self._minted.get(token)
        if minted is not None:
            serial, expires_at = minted
            return serial if self._clock() < expires_at else None
        return 0 if self._static is None else None

    def mint(self) -> str:
        """Mint a token valid for ``ttl`` seconds of the server clock."""
        now = self._clock()
        if len(self._minted) > _PRUNE_ABOVE:
            self._minted = {t: v for t, v in self._minted.items() if v[1] > now}
        token = new_id("mwt_")
        self.last_serial = next(self._serials)
        self._minted[token] = (self.last_serial, now + self._ttl)
        return token

    async def handle(self, request: web.Request) -> web.Response:
        """Serve ``POST /oauth/v1/token`` from a JSON or form-urlencoded body."""
        raw = await request.read()
        fields = _parse_body(raw, request.content_type)
        if fields is None or not all(
            isinstance(fields.get(k), str) for k in ("client_id", "client_secret", "grant_type")
        ):
            return flat_error(
                400, "INVALID_REQUEST", "client_id, client_secret and grant_type are required."
            )
        if fields["grant_type"] != "client_credentials":
            return flat_error(
                400, "UNSUPPORTED_GRANT_TYPE", "Only grant_type=client_credentials is supported."
            )
        if fields["client_id"] != self._client_id or fields["client_secret"] != self._client_secret:
            return flat_error(401, "INVALID_CLIENT", "Client authentication failed.")
        data = {
            "access_token": self.mint(),
            "expires_in": max(0, int(self._ttl)),
            "token_type": "Bearer",
        }
        body = {"data": data} if self._reply == "wrapped" else data
        return web.Response(body=dumps(body), headers={"Content-Type": "application/json"})


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """Parse a token request as JSON or as a form, whichever the bytes are."""
    text = raw.decode("utf-8", "replace")
    if content_type != "application/x-www-form-urlencoded":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        if content_type == "application/json":
            return None
    form = dict(parse_qsl(text, keep_blank_values=True))
    return form or None
