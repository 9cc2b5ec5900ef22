"""The benchmark server serves what a client built as users build theirs (no ``api_version``)
asks for: a change of the SDK's default generation once left every HTTP benchmark with 404s."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from aiohttp import web

import moveworks_async as mw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import payloads, server

pytestmark = pytest.mark.asyncio


async def test_a_default_client_reaches_every_benchmark_route() -> None:
    runner = web.AppRunner(server.make_app(1))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with mw.AsyncMoveworks(
            assistant_name="bench", token="bench-token", base_url=f"http://127.0.0.1:{port}"
        ) as client:
            created = await client.responses.create(payloads.CONV, text="q")
            got = await client.responses.get(payloads.CONV, created.response_id)
            async with client.responses.stream("ev_4", text="q") as stream:
                events = [event async for event in stream]
    finally:
        await runner.cleanup()
    assert created.status is mw.ResponseStatus.CREATED
    assert got.status is mw.ResponseStatus.COMPLETED
    assert events


@pytest.mark.asyncio
async def test_the_stream_harness_reads_every_event_on_both_paths() -> None:
    """benchmarks.stream_harness (issue 13, item 5): the SDK and the floor read the same
    pre-recorded chunks through a stub transport (measure() asserts both counts)."""
    from benchmarks import stream_harness

    assert isinstance(stream_harness.StubTransport([]), mw.Transport)
    result = await stream_harness.measure("long", rounds=1, repeats=1, only=None)
    assert result["events"] == 10_000
    assert result["sdk_us_min"] > 0
    assert result["floor_us_min"] > 0
    assert result["ratio_median"] > 0


@pytest.mark.asyncio
@pytest.mark.parametrize("op", ["get", "create"])
async def test_the_call_split_harness_completes_calls_in_every_variant(op: str) -> None:
    """benchmarks.call_split (issue 16): every variant, raw or through the SDK, gets the
    benchmark server's replies (``loads`` and the SDK raise on anything else) and reports
    its CPU per call split by thread, and its context switches per call."""
    from benchmarks import call_split

    runner = web.AppRunner(server.make_app(1))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        has_pyreqwest = importlib.util.find_spec("pyreqwest") is not None
        measured = []
        for variant in call_split.VARIANTS:
            if ("pyreqwest" in variant or variant == "transport") and not has_pyreqwest:
                continue  # the [fast] pass runs them (the aiohttp ones still run here)
            result = await call_split._measure(url, variant, op, conc=2, seconds=0.05)
            measured.append(variant)
            assert result["rps"] > 0, variant
            assert result["cpu"] > 0, variant
            assert result["loop"] > 0, variant
            assert result["vcsw"] >= 0, variant
            assert result["ivcsw"] >= 0, variant
            # The busy variants add the loop's measured cost; the others nothing.
            assert (result["busy"] > 0) == variant.endswith("-busy"), variant
        assert {"aiohttp", "aiohttp-busy", "transport-aiohttp", "sdk-aiohttp"} <= set(measured)
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["full", "seam", "request", "attempts", "ideal"])
async def test_the_call_layers_harness_gets_the_response_at_every_entry_point(mode: str) -> None:
    """benchmarks.call_layers (issue 16): each entry point into the SDK makes its GETs and
    gets the benchmark's Response (the harness asserts its id)."""
    from benchmarks import call_layers

    assert mode in call_layers.MODES
    await call_layers.run(32, mode)
