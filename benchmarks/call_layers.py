"""The SDK's work per GET, one layer at a time (issue 16).

``python -m benchmarks.call_layers N MODE`` makes ``N`` GETs (16 tasks) against the stub
transport of :mod:`benchmarks.call_harness`, entering the SDK at ``MODE``:

* ``full``: ``client.responses.get`` (id checks, route, ``Request``, the reply's id check);
* ``seam``: ``seam.request_model`` with a prepared ``Request``;
* ``request``: ``client._request`` (``_execute``, ``_bounded``: the whole-call deadline) and
  ``_reply.model``;
* ``attempts``: ``client._attempts`` (governor turn, headers, the attempt loop) and the model;
* ``ideal``: the transport and the model only.

Under ``valgrind --tool=callgrind`` the runs are deterministic: the difference of two ``N``
counts, divided by their difference, is a mode's instructions per call, and two modes'
difference what the layers between them cost (table in benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from . import payloads
from .call_harness import StubTransport

MODES = ("full", "seam", "request", "attempts", "ideal")


async def run(calls: int, mode: str, tasks: int = 16) -> None:
    import moveworks_async as mw
    from moveworks_async import _client
    from moveworks_async._protocol import Request, path
    from moveworks_async._reply import model

    body = payloads.dumps(payloads.response(1))
    client = mw.AsyncMoveworks(
        assistant_name="bench",
        token="bench-token",
        base_url="http://stub.invalid",
        transport=StubTransport(body),  # type: ignore[arg-type]
    )
    seam = client.responses._seam
    route = path(seam.generation, "conversations", payloads.CONV, "responses", "resp_1")
    timeout = client.timeout
    transport = client._transport
    headers = {**client._base_headers, "Authorization": "Bearer bench-token"}
    url = client.base_url + route

    async def one() -> Any:
        if mode == "full":
            return await client.responses.get(payloads.CONV, "resp_1")
        if mode == "seam":
            return await seam.request_model(Request("GET", route), mw.Response)
        if mode == "request":
            reply = await client._request(Request("GET", route))
        elif mode == "attempts":
            send = _client._Send(url, None, timeout, None)
            reply = await client._attempts(Request("GET", route), send, None, True, None, None)
        else:
            reply = await transport.request("GET", url, dict(headers), None, None, timeout)
        return model(reply, mw.Response, key=None, idempotent=True)

    async def worker() -> None:
        for _ in range(calls // tasks):
            response = await one()
            assert response.response_id == "resp_0000000001"

    async with client:
        await asyncio.gather(*(worker() for _ in range(tasks)))


def main() -> None:
    calls, mode = int(sys.argv[1]), sys.argv[2]
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {MODES}")
    asyncio.run(run(calls, mode))


if __name__ == "__main__":
    main()
