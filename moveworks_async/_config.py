"""Client settings: arguments first, then ``MOVEWORKS_*`` environment variables, then defaults.

One resolver for the library (``AsyncMoveworks()``) and the CLI, so both read the same
variables by the same rules; only the way a setting is named in an error differs (``token=``
for the library, ``--token`` for the CLI). Everything is checked here, before any I/O, and no
message ever echoes a value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final, Literal, cast, get_args

import attrs

from ._errors import InvalidParameterError
from ._validate import check_header_value, check_token, check_url

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "ENV",
    "ApiVersion",
    "Settings",
    "resolve_settings",
]

#: The generations of the Conversations API, as ``api_version`` names them.
ApiVersion = Literal["v1beta1", "assistant-v1", "v1"]
API_VERSIONS: Final = cast("tuple[ApiVersion, ...]", get_args(ApiVersion))
#: The generation the API reference calls current (``/rest/v1``,
#: https://help.moveworks.com/api-reference/conversations-api/overview.md): the library, the
#: CLI and the examples all default to it.
DEFAULT_API_VERSION: Final[ApiVersion] = "v1"
DEFAULT_BASE_URL: Final = "https://api.moveworks.ai"

#: Setting -> environment variable (``MOVEWORKS_TOKEN``, ...).
ENV: Final = {
    name: "MOVEWORKS_" + name.upper()
    for name in ("token", "client_id", "client_secret", "assistant_name", "base_url", "api_version")
}


def _parameter(name: str) -> str:
    """How the library names a setting in a message: as its keyword argument."""
    return "token= or auth=" if name == "credentials" else name


@attrs.frozen
class Settings:
    """Where and as whom to connect; secrets never reach the repr."""

    base_url: str
    api_version: ApiVersion
    assistant_name: str | None = None
    token: str | None = attrs.field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)


def resolve_settings(
    given: Mapping[str, str | None],
    *,
    has_auth: bool = False,
    need_credentials: bool = True,
    need_assistant: bool = True,
    environ: Mapping[str, str] | None = None,
    spell: Callable[[str], str] = _parameter,
    hint: str = "",
) -> Settings:
    """Resolve every setting from ``given`` (None: not given), then the environment.

    Arguments win. Credentials: with ``has_auth`` (the caller passed its own auth object) no
    credential variable is read; a given ``token`` wins over everything; a given
    ``client_id`` or ``client_secret`` chooses client credentials, the other half coming from
    its argument or else its variable (so ``--client-id`` combines with
    ``MOVEWORKS_CLIENT_SECRET``, the way a secret is best passed), and ``MOVEWORKS_TOKEN`` is
    not read; with none given, ``MOVEWORKS_TOKEN`` wins over ``MOVEWORKS_CLIENT_ID`` +
    ``MOVEWORKS_CLIENT_SECRET``. Empty variables count as unset.
    ``spell`` names a setting in messages (``"credentials"``: every way to pass one);
    ``hint`` is appended to "missing" messages.

    Raises:
        InvalidParameterError: a setting is missing or invalid (naming the argument or the
            variable it came from, never its value).
    """
    env = os.environ if environ is None else environ

    def pick(name: str) -> tuple[str | None, str]:
        value = given.get(name)
        if value is not None:
            return value, spell(name)
        return env.get(ENV[name]) or None, ENV[name]

    def as_given(name: str) -> tuple[str | None, str]:
        return given.get(name), spell(name)

    pair = ("client_id", "client_secret")
    pair_given = any(given.get(name) is not None for name in pair)
    if has_auth or given.get("token") is not None:
        found = {name: as_given(name) for name in ("token", *pair)}
    elif pair_given:
        found = {"token": as_given("token"), **{name: pick(name) for name in pair}}
    else:
        found = {name: pick(name) for name in ("token", *pair)}
    token, token_source = found["token"]
    client_id, id_source = found["client_id"]
    secret, secret_source = found["client_secret"]
    if token is not None:
        token = check_token(token, token_source)
        client_id = secret = None  # a token wins over client credentials
    elif (client_id is None) != (secret is None):
        if not pair_given:
            raise InvalidParameterError(
                f"{ENV['client_id']} and {ENV['client_secret']} must be set together"
            )
        missing = "client_id" if client_id is None else "client_secret"
        present = id_source if missing == "client_secret" else secret_source
        raise InvalidParameterError(f"{present} needs {spell(missing)} too (or set {ENV[missing]})")
    elif client_id is None and not has_auth and need_credentials:
        raise InvalidParameterError(
            f"no credentials: pass {spell('credentials')}, or set {ENV['token']} (or "
            f"{ENV['client_id']} and {ENV['client_secret']})" + hint
        )
    if client_id is not None:
        client_id = check_header_value(client_id, id_source)
        secret = check_token(secret, secret_source)

    assistant, assistant_source = pick("assistant_name")
    if assistant is not None:
        assistant = check_header_value(assistant, assistant_source)
    elif need_assistant:
        raise InvalidParameterError(
            f"no assistant name: pass {spell('assistant_name')} or set "
            f"{ENV['assistant_name']}" + hint
        )

    base_url, url_source = pick("base_url")
    base_url = DEFAULT_BASE_URL if base_url is None else check_url(base_url, url_source)
    version, version_source = pick("api_version")
    if version is None:
        version = DEFAULT_API_VERSION
    elif version not in API_VERSIONS:
        names = ", ".join(API_VERSIONS)
        raise InvalidParameterError(f"{version_source} must be one of {names}")
    return Settings(
        base_url=base_url.rstrip("/"),
        api_version=version,
        assistant_name=assistant,
        token=token,
        client_id=client_id,
        client_secret=secret,
    )
