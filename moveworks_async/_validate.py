"""Validation of everything that reaches a URL path or a header, before any I/O.

Path ids go through an allowlist rather than a blocklist: yarl normalises ``..`` segments and
an f-string URL keeps ``?`` as a query, so anything outside
``[A-Za-z0-9_-]`` is refused. The API documents ids as prefixed base-62 strings or ULIDs, both
inside the allowlist; modal ids observed so far (``modal_1``) too. Messages name the parameter
and the rule but never echo the value, which may be an attack string or a misplaced secret.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping

from ._errors import InvalidParameterError

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_TOKEN_LENGTH",
    "check_header_value",
    "check_headers",
    "check_id",
    "is_id",
    "check_limit",
    "check_max_retries",
    "check_positive",
    "check_regular_file",
    "is_positive",
    "check_text",
    "check_token",
    "check_unicode",
    "check_url",
]

MAX_ID_LENGTH = 256
_ID = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_ID_LENGTH}}}")
# Visible ASCII with inner spaces; no control characters (CR/LF would split headers).
_HEADER = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_MAX_HEADER = 4096


def is_id(value: object) -> bool:
    """Whether ``value`` is a safe path segment (what :func:`check_id` accepts)."""
    return type(value) is str and _ID.fullmatch(value) is not None


def check_id(value: object, name: str) -> str:
    """Return ``value`` if it is a safe path segment, else raise InvalidParameterError."""
    if type(value) is not str:
        raise InvalidParameterError(f"{name} must be a str, not {type(value).__name__}")
    if _ID.fullmatch(value) is None:
        raise InvalidParameterError(
            f"{name} must be 1-{MAX_ID_LENGTH} characters of A-Z, a-z, 0-9, '_' or '-'"
        )
    return value


def check_header_value(value: object, name: str, *, max_length: int = _MAX_HEADER) -> str:
    """Return ``value`` if it can be sent as an HTTP header value, else raise."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a str, not {type(value).__name__}")
    if len(value) > max_length or _HEADER.fullmatch(value) is None:
        raise InvalidParameterError(
            f"{name} must be 1-{max_length} printable ASCII characters without control "
            "characters or surrounding whitespace"
        )
    return value


# RFC 9110 field names (tokens).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
#: Headers the client sets itself: an extra header may not replace them (the bearer, the
#: framing of the body, and the content negotiation the reply parsing depends on).
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "accept",
        "accept-encoding",
        # The client sets these from its own settings: an override would send a request
        # to another assistant, or a JSON body labelled as compressed.
        "assistant-name",
        "content-encoding",
    }
)


def check_headers(value: object, name: str = "extra_headers") -> dict[str, str] | None:
    """Return ``value`` as a dict of safe extra headers (None or empty: None), else raise.

    Names must be RFC 9110 tokens and not one the client manages (:data:`RESERVED_HEADERS`);
    values follow :func:`check_header_value`. Neither is echoed in the error.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{name} must be a mapping of header names to str values")
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or _HEADER_NAME.fullmatch(key) is None:
            raise InvalidParameterError(f"{name}: header names must be RFC 9110 tokens")
        if key.lower() in RESERVED_HEADERS:
            raise InvalidParameterError(f"{name}: the client sets {key} itself")
        headers[key] = check_header_value(item, f"{name}[{key!r}]")
    return headers or None


#: Bearer tokens from IdP exchanges can be long JWTs, longer than other header values.
MAX_TOKEN_LENGTH = 16384


def check_token(value: object, name: str = "token") -> str:
    """Return ``value`` if it can be sent as a bearer token, else raise (never echoing it)."""
    return check_header_value(value, name, max_length=MAX_TOKEN_LENGTH)


def check_text(value: object, name: str, *, max_length: int | None = None) -> str:
    """Return ``value`` if it is a non-empty str (within ``max_length``), else raise."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise InvalidParameterError(f"{name} must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidParameterError(f"{name} must be at most {max_length} characters")
    return check_unicode(value, name)


def check_unicode(value: str, name: str) -> str:
    """Return ``value`` if it can be sent as UTF-8 (no lone surrogate such as ``"\\ud800"``)."""
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        bad = True
    else:
        bad = False
    if bad:
        raise InvalidParameterError(f"{name} contains a lone surrogate; it cannot be sent")
    return value


def check_limit(value: object, name: str = "limit") -> int | None:
    """Return a page size within the API's 1-100 range (or None for the server default)."""
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= 100:
        raise InvalidParameterError(f"{name} must be an int between 1 and 100")
    return value


def check_url(value: object, name: str) -> str:
    """Return ``value`` if it is a plain http(s) URL (no query, fragment or credentials)."""
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a str")
    from yarl import URL

    # yarl (like browsers) silently drops CR, LF and tab, and keeps spaces in a host: refuse
    # them in the text itself, since requests go to the URL as written.
    if any(c.isspace() or not c.isprintable() for c in value):
        raise InvalidParameterError(f"{name} must not contain whitespace or control characters")
    try:
        url = URL(value)
    except (TypeError, ValueError):
        url = None
    if url is None:
        raise InvalidParameterError(f"{name} is not a valid URL")
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        raise InvalidParameterError(
            f"{name} must be an http(s) URL without query or fragment, "
            "e.g. 'https://api.moveworks.ai'"
        )
    if url.user is not None or url.password is not None:
        raise InvalidParameterError(f"{name} must not contain user:password@ credentials")
    return value


def is_positive(value: object, minimum: float = 0.0) -> bool:
    """True for a finite real number above ``minimum`` (bools excluded).

    inf and nan are refused: aiohttp turns an infinite timeout into an OverflowError, and a nan
    deadline never expires; so is an int too large for a float (``10**400``).
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        # float() first: an int beyond a float's range (10**400) would make isfinite raise
        # OverflowError, an untyped error where an InvalidParameterError is owed.
        number = float(value)
    except OverflowError:
        return False
    return math.isfinite(number) and number > minimum


def check_positive(
    value: object, name: str, *, optional: bool = False, minimum: float = 0.0
) -> float | None:
    """Return ``value`` as a float if :func:`is_seconds` holds (or None if ``optional``)."""
    if value is None and optional:
        return None
    if not is_positive(value, minimum):
        rule = "a positive number" if minimum == 0.0 else f"a number > {minimum:g}"
        raise InvalidParameterError(f"{name} must be {rule}" + (" or None" if optional else ""))
    return float(value)  # type: ignore[arg-type]


def check_int(value: object, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum`` (and <= ``maximum`` if
    given), else raise."""
    if type(value) is not int or value < minimum or (maximum is not None and value > maximum):
        rule = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise InvalidParameterError(f"{name} must be an int {rule}")
    return value


def check_callable(value: object, name: str) -> None:
    """Raise unless ``value`` is None or callable (an injected clock or sleep
    that is not a function would otherwise fail as a bare TypeError at the first call)."""
    if value is not None and not callable(value):
        raise InvalidParameterError(f"{name} must be callable or None")


def check_number(value: object, name: str, minimum: float = 0.0) -> float:
    """Return ``value`` if it is a real number (not a bool) >= ``minimum``; ``inf`` is allowed
    (an unbounded cap), ``nan`` is not."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise InvalidParameterError(f"{name} must be a number >= {minimum:g}")
    return value


def check_max_retries(value: object) -> int | None:
    """Return ``value`` if it is None or an int >= 0 (a retry count), else raise."""
    return None if value is None else check_int(value, "max_retries")


def check_regular_file(path: str | os.PathLike[str], name: str) -> None:
    """``path`` is absent or a regular file (a symlink to one is fine): a device, FIFO or
    socket would be replaced by the write-then-rename of a save, or fail mid-write.

    Raises:
        InvalidParameterError: ``path`` exists and is something else (a directory, say).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError:  # unreadable metadata: the open that follows says why
        return
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise InvalidParameterError(f"{name} {os.fspath(path)} is {kind}")
