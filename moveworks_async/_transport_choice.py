"""Which transport a client uses: the one place that maps ``transport=`` to a
:class:`~moveworks_async._transport.Transport`.

It sits above both transports: ``_transport`` (the protocol, the shared types and the aiohttp
transport) and ``_transport_pyreqwest`` (which imports those shared types) import nothing
from here, so the package's imports stay a DAG. The optional transport is imported only when
it is named, so a client without the ``[fast]`` extra never loads it.
"""

from __future__ import annotations

from typing import Final, get_args

import aiohttp

from ._errors import InvalidParameterError
from ._transport import MAX_CONNECTIONS, AiohttpTransport, Transport, TransportName
from ._validate import check_int

__all__ = ["DEFAULT_TRANSPORT", "MAX_CONNECTIONS", "TRANSPORTS", "check_pool", "make_transport"]

#: The transport of a client created without ``transport=`` (and without ``session=``).
#: Tests switch it with ``MWA_TRANSPORT`` to run the suite against another transport.
DEFAULT_TRANSPORT = "aiohttp"
TRANSPORTS: Final[tuple[str, ...]] = get_args(TransportName)


def check_pool(session: object, max_connections: object) -> None:
    """Check ``session=`` and ``max_connections=`` before anything reads them (a client
    constructor's first step), so a wrong value is an InvalidParameterError naming it."""
    check_int(max_connections, "max_connections", 1, MAX_CONNECTIONS)
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise InvalidParameterError("session must be an aiohttp.ClientSession or None")


def make_transport(
    transport: str | Transport | None,
    session: aiohttp.ClientSession | None,
    max_connections: int,
) -> Transport:
    """The transport named or given (``AsyncMoveworks(transport=...)``); checked before any I/O.

    ``session=`` is an aiohttp session, so it implies (and requires) the aiohttp transport.
    """
    if transport is None:
        transport = "aiohttp" if session is not None else DEFAULT_TRANSPORT
    if isinstance(transport, str):
        if transport == "aiohttp":
            return AiohttpTransport(session, max_connections=max_connections)
        if transport == "pyreqwest":
            if session is not None:
                raise InvalidParameterError(
                    "session= is an aiohttp session: use transport='aiohttp'"
                )
            from ._transport_pyreqwest import PyreqwestTransport

            return PyreqwestTransport(max_connections=max_connections)
        raise InvalidParameterError(f"transport must be one of {TRANSPORTS} or a Transport")
    if not isinstance(transport, Transport):
        raise InvalidParameterError(f"transport must be one of {TRANSPORTS} or a Transport")
    if session is not None:
        raise InvalidParameterError("pass session= or a transport instance, not both")
    return transport
