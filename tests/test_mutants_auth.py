"""Token sources' edges (found by ``nox -s mutants``): refresh timing to the exact second, the
reply's ``expires_in`` bounds, the credentials' own ``get_token``, and what errors and reprs say.

The credentials are bound to a recording fetch function instead of a client, so every token
request is visible and the clock is a plain variable.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async._auth import CallableToken, ClientCredentials, StaticToken

pytestmark = pytest.mark.asyncio


class TokenEndpoint:
    """A fetch function for ``ClientCredentials.bind`` that records each token request."""

    def __init__(self, **reply: Any) -> None:
        self.reply = reply
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, url: str, form: Mapping[str, str]) -> Any:
        self.calls.append((url, dict(form)))
        return {"data": {"access_token": f"tok_{len(self.calls)}", **self.reply}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_refreshed_exactly_at_the_refresh_time() -> None:
    """expires_in 100 with the default margin (20 s): cached until 80 s, refreshed at 80 s."""
    clock = Clock()
    endpoint = TokenEndpoint(expires_in=100)
    source = ClientCredentials("id", "secret", clock=clock).bind(endpoint, "https://h/api")
    assert await source.get_token() == "tok_1"
    clock.now = 179.999
    assert await source.get_token() == "tok_1"
    clock.now = 180.0
    assert await source.get_token() == "tok_2"


async def test_missing_expires_in_means_sixty_seconds() -> None:
    """Without expires_in the token lives 60 s: refreshed 12 s early, at 48 s."""
    clock = Clock()
    endpoint = TokenEndpoint()
    source = ClientCredentials("id", "secret", clock=clock).bind(endpoint, "https://h/api")
    await source.get_token()
    clock.now = 147.9
    assert await source.get_token() == "tok_1"
    clock.now = 148.0
    assert await source.get_token() == "tok_2"


async def test_margin_longer_than_the_lifetime_refreshes_every_call() -> None:
    """A refresh margin past the token's whole lifetime never serves a cached token."""
    clock = Clock()
    endpoint = TokenEndpoint(expires_in=2)
    credentials = ClientCredentials("id", "secret", refresh_margin=5, clock=clock)
    source = credentials.bind(endpoint, "https://h/api")
    assert [await source.get_token() for _ in range(3)] == ["tok_1", "tok_2", "tok_3"]
    assert credentials.refreshes == 3


@pytest.mark.parametrize("margin", [0, 0.5])
async def test_small_refresh_margins_are_valid(margin: float) -> None:
    """A margin of zero (use the token to its last second) or below one second is accepted."""
    clock = Clock()
    endpoint = TokenEndpoint(expires_in=10)
    source = ClientCredentials("id", "secret", refresh_margin=margin, clock=clock).bind(
        endpoint, "https://h/api"
    )
    await source.get_token()
    clock.now = 110.0 - margin - 0.01
    assert await source.get_token() == "tok_1"


@pytest.mark.parametrize("expires_in", [1, 0.5])
async def test_short_but_positive_expires_in_is_accepted(expires_in: float) -> None:
    """A token living one second or less is still a token."""
    endpoint = TokenEndpoint(expires_in=expires_in)
    source = ClientCredentials("id", "secret", clock=Clock()).bind(endpoint, "https://h/api")
    assert await source.get_token() == "tok_1"


async def test_zero_expires_in_is_refused() -> None:
    """``expires_in: 0`` is an already-expired token: a typed error naming the field."""
    endpoint = TokenEndpoint(expires_in=0)
    source = ClientCredentials("id", "secret", clock=Clock()).bind(endpoint, "https://h/api")
    with pytest.raises(mw.ResponseValidationError) as caught:
        await source.get_token()
    assert str(caught.value) == "token reply has a bad expires_in at $.expires_in"


async def test_token_url_joins_a_base_url_with_a_trailing_slash() -> None:
    """``https://h/api/`` and ``https://h/api`` give the same token URL."""
    endpoint = TokenEndpoint(expires_in=3600)
    source = ClientCredentials("id", "secret", clock=Clock()).bind(endpoint, "https://h/api/")
    await source.get_token()
    assert endpoint.calls[0][0] == "https://h/api/oauth/v1/token"


async def test_credentials_own_get_token_uses_the_latest_client() -> None:
    """Called on the credentials themselves, get_token goes through the last bound transport."""
    first, second = TokenEndpoint(expires_in=3600), TokenEndpoint(expires_in=3600)
    credentials = ClientCredentials("id", "secret", clock=Clock())
    assert credentials.refreshes == 0
    credentials.bind(first, "https://one/api")
    credentials.bind(second, "https://two/api")
    assert await credentials.get_token() == "tok_1"
    assert first.calls == []
    assert second.calls == [
        (
            "https://two/api/oauth/v1/token",
            {"client_id": "id", "client_secret": "secret", "grant_type": "client_credentials"},
        )
    ]
    assert credentials.refreshes == 1


async def test_unbound_credentials_say_how_to_use_them() -> None:
    """get_token before any client bound the credentials is a clear RuntimeError."""
    with pytest.raises(RuntimeError) as caught:
        await ClientCredentials("id", "secret").get_token()
    assert str(caught.value) == "ClientCredentials must be used through AsyncMoveworks"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "token reply is not an object at $"),
        ({"data": {"expires_in": 10}}, "token reply has no access_token at $.access_token"),
    ],
)
async def test_malformed_token_reply_messages(payload: Any, message: str) -> None:
    """A token reply without the documented shape names what is missing, and where."""

    async def fetch(url: str, form: Mapping[str, str]) -> Any:
        return payload

    source = ClientCredentials("id", "secret", clock=Clock()).bind(fetch, "https://h/api")
    with pytest.raises(mw.ResponseValidationError) as caught:
        await source.get_token()
    assert str(caught.value) == message


async def test_control_characters_in_an_issued_token_name_the_field() -> None:
    """An access_token that cannot be a header value is refused, naming the field only."""

    async def fetch(url: str, form: Mapping[str, str]) -> Any:
        return {"access_token": "tok\r\nX-Injected: 1", "expires_in": 60}

    source = ClientCredentials("id", "secret", clock=Clock()).bind(fetch, "https://h/api")
    with pytest.raises(mw.ResponseValidationError, match=r"access_token") as caught:
        await source.get_token()
    assert caught.value.path == "$.access_token"
    assert "Injected" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"client_id": "", "client_secret": "s"}, "client_id"),
        ({"client_id": "i", "client_secret": ""}, "client_secret"),
        ({"client_id": "i", "client_secret": "s", "token_url": "not a url"}, "token_url"),
        ({"client_id": "i", "client_secret": "s", "refresh_margin": -1}, "refresh_margin"),
    ],
)
async def test_credential_errors_name_the_argument(kwargs: dict[str, Any], name: str) -> None:
    """Each rejected argument is named at the start of the error message."""
    with pytest.raises(mw.InvalidParameterError, match=rf"^{name} "):
        ClientCredentials(**kwargs)


async def test_refresh_margin_error_states_the_rule() -> None:
    """The refresh_margin error says what is allowed."""
    with pytest.raises(mw.InvalidParameterError) as caught:
        ClientCredentials("i", "s", refresh_margin=float("nan"))
    assert str(caught.value) == "refresh_margin must be a finite number >= 0, or None"


async def test_static_token_errors_and_repr() -> None:
    """A bad static token is named ``token``; the repr never shows the token."""
    with pytest.raises(mw.InvalidParameterError, match=r"^token "):
        StaticToken("")
    assert repr(StaticToken("sekrit")) == "StaticToken(<redacted>)"


async def test_callable_token_errors_name_the_callable_and_its_result() -> None:
    """A non-callable is a TypeError; a sync result names its type; a bad token is named."""
    with pytest.raises(TypeError) as caught:
        CallableToken("not callable")  # type: ignore[arg-type]
    assert str(caught.value) == "auth must be a TokenSource or an async callable returning a str"

    def sync() -> str:
        return "tok"

    with pytest.raises(mw.InvalidParameterError) as refused:
        await CallableToken(sync).get_token()  # type: ignore[arg-type]
    assert str(refused.value) == (
        "auth must be an async callable; it returned str, not an awaitable"
    )

    async def empty() -> str:
        return ""

    with pytest.raises(mw.InvalidParameterError, match=r"^token returned by auth callable "):
        await CallableToken(empty).get_token()


async def test_callable_token_repr_names_the_function_not_the_token() -> None:
    """The repr shows the callable's qualified name, or ``callable`` when it has none."""

    async def fetch_token(scope: str) -> str:
        return "sekrit"

    assert repr(CallableToken(fetch_token)) == (
        "CallableToken(test_callable_token_repr_names_the_function_not_the_token"
        ".<locals>.fetch_token)"
    )
    assert repr(CallableToken(functools.partial(fetch_token, "s"))) == "CallableToken(callable)"
