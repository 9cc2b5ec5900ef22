"""Virtual-time simulation of the rate governor: ``python -m benchmarks.governor_sim``.

Plays scenarios against a simulated token-bucket server in virtual time (an asyncio event
loop whose clock jumps to the next timer instead of waiting), so a minute of traffic takes a
second of CPU and every run is deterministic. Each scenario prints its figures and, with
matplotlib installed (the ``bench`` extra), draws the governor's rate and the server's
accepted rate over time into ``docs/governor-<scenario>.png``.

Scenarios:

* ``one-off``: no server limit; the 2nd of 200 concurrent calls is answered 429 with
  Retry-After 1, then 20 more calls follow (default governor and ``rate=200``).
* ``storm``: 1,000 concurrent calls through the default governor at pool sizes 100, 1,000
  and 2,000, and through ``RateGovernor(rate=100, burst=100)``, against 100/s (burst 100).
* ``halving``: 60 workers call in a loop for 30 s; the server's limit drops from 100/s to
  50/s at t = 15 s.
* ``shared``: two clients, each with its own governor, share one 100/s limit.
* ``--sweep``: the default governor under realistic conditions: 1,000 concurrent calls
  against 100/s for every reply latency {4 ms, 100 ms, 200 ms, 500 ms, 1 s} x server burst
  {1, 10, 100} x Retry-After {absent, 1, 2, 5} x pool (connection limit) {100, 1000, 2000};
  then the cost of the slow-start window against an unlimited server (1,000 calls at once
  and 200 steady workers for 8 s, against ``adaptive=False``). The table it prints is in
  ``benchmarks/README.md``.
* ``--sweep --quick``: an 18-cell subset (4 ms, 200 ms, 1 s x burst x Retry-After absent
  or 5 s, pool 1000; ~5 s) for the design loop.

The client loop mirrors ``AsyncMoveworks._attempts``: acquire, send, release with the
status, report a 429 (``rate_limited``) and try again.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import selectors
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from moveworks_async import RateGovernor

DOCS = Path(__file__).resolve().parent.parent / "docs"
RTT = 0.004  # seconds: mean request-to-reply time, as on loopback against the fake server


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that advances the loop's virtual clock by the timeout instead of waiting."""

    def __init__(self, loop: VirtualLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("deadlock: nothing is scheduled and every task waits")
        if timeout > 0:
            self._loop.now += timeout
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: ``asyncio.sleep`` and ``anyio.sleep`` cost nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` to completion on a fresh virtual-time loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


class Server:
    """A token bucket server: ``rate`` per second, ``burst`` at once, 429 + Retry-After 1."""

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else (rate or 0.0)
        self.tokens = self.burst
        self.ts = 0.0
        self.fail_calls: set[int] = set()  # 1-based call numbers answered 429 once
        self.sent = 0
        self.accepted: list[float] = []
        self.refused: list[float] = []

    def decide(self, now: float) -> bool:
        self.sent += 1
        if self.sent in self.fail_calls:
            self.refused.append(now)
            return False
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.ts) * self.rate)
            self.ts = now
            if self.tokens < 1:
                self.refused.append(now)
                return False
            self.tokens -= 1
        self.accepted.append(now)
        return True


class Client:
    """One governor and the calls made through it; samples the governor's rate.

    ``rtt`` is the mean request-to-reply time, ``retry_after`` what the server's 429 says
    (``None``: no header), ``pool`` the connection limit (a semaphore around each send, as
    aiohttp's connector; ``None``: unlimited)."""

    def __init__(
        self,
        server: Server,
        governor: RateGovernor,
        rtt: float = RTT,
        retry_after: float | None = 1.0,
        pool: int | None = None,
        max_retries: int | None = None,
    ) -> None:
        self.server = server
        self.governor = governor
        self.rtt = rtt
        self.retry_after = retry_after
        self.pool = asyncio.Semaphore(pool) if pool else None
        # As the client's RetryPolicy: ``max_retries`` own 429s, 3 more collateral ones
        # (``rate_limit_grace``); ``None``: retry until accepted.
        self.max_retries = max_retries
        self.failed = 0
        self.samples: list[tuple[float, float | None]] = []
        self.done: list[float] = []
        self.rng = random.Random(7)  # seeded: every run plays the same timeline

    async def call(self) -> None:
        loop = asyncio.get_running_loop()
        g = self.governor
        retries = grace = 0
        while True:
            ticket = await g.acquire()
            if self.pool is not None:
                await self.pool.acquire()
            # Each leg takes 25-75 % of the mean round trip, so replies are not in lockstep.
            await asyncio.sleep(self.rtt * (0.25 + self.rng.random() / 2))
            ok = self.server.decide(loop.time())
            await asyncio.sleep(self.rtt * (0.25 + self.rng.random() / 2))
            if self.pool is not None:
                self.pool.release()
            if ok:
                g.release(ticket, 200)
                self.done.append(loop.time())
                return
            g.release(ticket, 429)
            own = await g.report_rate_limit(ticket, self.retry_after)
            if self.max_retries is not None:
                if own or grace >= 3:
                    retries += 1
                else:
                    grace += 1
                if retries > self.max_retries:
                    self.failed += 1
                    return

    async def sample(self, until: Callable[[], bool], every: float = 0.05) -> None:
        loop = asyncio.get_running_loop()
        while not until():
            self.samples.append((loop.time(), self.governor.rate))
            await asyncio.sleep(every)


def _governor(**kwargs: Any) -> RateGovernor:
    loop = asyncio.get_running_loop()
    return RateGovernor(clock=loop.time, rng=lambda: 0.5, **kwargs)


async def _storm(n: int, governor_kwargs: dict[str, Any]) -> tuple[Server, Client, float]:
    server = Server(100, 100)
    client = Client(server, _governor(**governor_kwargs))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    calls = [asyncio.ensure_future(client.call()) for _ in range(n)]
    sampler = asyncio.ensure_future(client.sample(lambda: all(c.done() for c in calls)))
    await asyncio.gather(*calls)
    await sampler
    return server, client, loop.time() - t0


def storm(n: int = 1000, **governor_kwargs: Any) -> dict[str, Any]:
    """``n`` concurrent calls against 100/s, burst 100; the figures and the trace."""

    async def main() -> tuple[Server, Client, float]:
        return await _storm(n, governor_kwargs)

    server, client, wall = run_virtual(main)
    return {
        "requests": server.sent,
        "rate_limited": len(server.refused),
        "wall": wall,
        "ideal": n / 100,
        "server": server,
        "clients": [client],
    }


def one_off(fail_call: int = 2, first: int = 200, then: int = 20, **kw: Any) -> dict[str, Any]:
    """No server limit; call ``fail_call`` answered 429 once; ``first`` then ``then`` calls."""

    async def main() -> dict[str, Any]:
        server = Server(None)
        server.fail_calls.add(fail_call)
        client = Client(server, _governor(**kw))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(client.call() for _ in range(first)))
        t1 = loop.time()
        await asyncio.gather(*(client.call() for _ in range(then)))
        t2 = loop.time()
        return {
            "first_wall": t1 - t0,
            "then_wall": t2 - t1,
            "rate_after": client.governor.rate,
            "requests": server.sent,
            "server": server,
            "clients": [client],
        }

    result: dict[str, Any] = run_virtual(main)
    return result


def one_off_demand(
    workers: int = 20, seconds: float = 6.0, fail_call: int = 5000, **kw: Any
) -> dict[str, Any]:
    """``workers`` call in a loop against no server limit; call ``fail_call`` gets one 429."""

    async def main() -> dict[str, Any]:
        server = Server(None)
        server.fail_calls.add(fail_call)
        client = Client(server, _governor(**kw))
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        sampler = asyncio.ensure_future(client.sample(lambda: loop.time() >= end, 0.02))
        await asyncio.gather(*(_loop_calls(client, end) for _ in range(workers)))
        await sampler
        return {"server": server, "clients": [client], "accepted": len(server.accepted)}

    result: dict[str, Any] = run_virtual(main)
    return result


async def _loop_calls(client: Client, until: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        await client.call()


def halving(workers: int = 60, seconds: float = 30.0, at: float = 15.0) -> dict[str, Any]:
    """``workers`` call in a loop; the server's limit halves from 100/s to 50/s at ``at``."""

    async def main() -> dict[str, Any]:
        server = Server(100, 100)
        client = Client(server, _governor())

        async def halve() -> None:
            await asyncio.sleep(at)
            server.rate, server.burst = 50, 50
            server.tokens = min(server.tokens, 50)

        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        sampler = asyncio.ensure_future(client.sample(lambda: loop.time() >= end))
        await asyncio.gather(halve(), *(_loop_calls(client, end) for _ in range(workers)))
        await sampler
        return {
            "requests": server.sent,
            "rate_limited": len(server.refused),
            "server": server,
            "clients": [client],
            "accepted": len(server.accepted),
        }

    result: dict[str, Any] = run_virtual(main)
    return result


def shared(workers: int = 40, seconds: float = 20.0) -> dict[str, Any]:
    """Two clients with their own governors share one 100/s limit (burst 100)."""

    async def main() -> dict[str, Any]:
        server = Server(100, 100)
        clients = [Client(server, _governor()) for _ in range(2)]
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        samplers = [asyncio.ensure_future(c.sample(lambda: loop.time() >= end)) for c in clients]
        await asyncio.gather(*(_loop_calls(c, end) for c in clients for _ in range(workers // 2)))
        await asyncio.gather(*samplers)
        return {
            "requests": server.sent,
            "rate_limited": len(server.refused),
            "server": server,
            "clients": clients,
            "accepted": len(server.accepted),
            "per_client": [len(c.done) for c in clients],
        }

    result: dict[str, Any] = run_virtual(main)
    return result


def sweep_cell(
    rtt: float, burst: float, retry_after: float | None, pool: int, n: int = 1000
) -> dict[str, Any]:
    """``n`` concurrent calls through the default governor against 100/s."""

    async def main() -> dict[str, Any]:
        server = Server(100, burst)
        client = Client(
            server, _governor(), rtt=rtt, retry_after=retry_after, pool=pool, max_retries=2
        )
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(client.call() for _ in range(n)))
        return {
            "requests": server.sent,
            "wall": loop.time(),
            "ideal": (n - burst) / 100,
            "failed": client.failed,
        }

    result: dict[str, Any] = run_virtual(main)
    return result


def unlimited_cost(rtt: float, n: int = 1000, **kw: Any) -> float:
    """Wall time of ``n`` calls at once against a server with no limit."""

    async def main() -> float:
        client = Client(Server(None), _governor(**kw), rtt=rtt)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(client.call() for _ in range(n)))
        return loop.time()

    result: float = run_virtual(main)
    return result


def steady_cost(rtt: float, workers: int = 200, seconds: float = 8.0, **kw: Any) -> int:
    """Calls completed by ``workers`` calling in a loop for ``seconds``, no server limit."""

    async def main() -> int:
        client = Client(Server(None), _governor(**kw), rtt=rtt)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        await asyncio.gather(*(_loop_calls(client, end) for _ in range(workers)))
        return len(client.done)

    result: int = run_virtual(main)
    return result


LATENCIES = (0.004, 0.1, 0.2, 0.5, 1.0)


def sweep(quick: bool = False) -> None:
    """Print the sweep table (markdown): requests/N, wall/ideal, failures per cell.

    ``quick``: the design-loop subset (latencies 4 ms, 200 ms and 1 s; Retry-After absent
    and 5 s; pool 1000; no unlimited-server table)."""
    print("Each cell: requests/N / wall/ideal (/ calls failed with RateLimitError after the")
    print("client's default 2 retries + 3 collateral ones); ideal = (N - burst) / 100 s.")
    print()
    print("| latency | burst | Retry-After | pool 100 | pool 1000 | pool 2000 |")
    print("|---|---|---|---|---|---|")
    for rtt in (0.004, 0.2, 1.0) if quick else LATENCIES:
        for burst in (1, 10, 100):
            for ra in (None, 5.0) if quick else (None, 1.0, 2.0, 5.0):
                cells = []
                for pool in (1000,) if quick else (100, 1000, 2000):
                    r = sweep_cell(rtt, burst, ra, pool)
                    cells.append(
                        f"{r['requests'] / 1000:.2f} / {r['wall'] / r['ideal']:.2f}"
                        + (f" / **{r['failed']} failed**" if r["failed"] else "")
                    )
                label = "absent" if ra is None else f"{ra:g} s"
                print(f"| {rtt * 1000:g} ms | {burst} | {label} | " + " | ".join(cells) + " |")
    if quick:
        return
    print()
    print("No server limit (cost of the slow-start window), default vs adaptive=False:")
    print("| latency | 1,000 calls at once | 200 workers, 8 s: calls done |")
    print("|---|---|---|")
    for rtt in LATENCIES:
        a, b = unlimited_cost(rtt), unlimited_cost(rtt, adaptive=False)
        c, d = steady_cost(rtt), steady_cost(rtt, adaptive=False)
        print(f"| {rtt * 1000:g} ms | {a:.2f} s vs {b:.2f} s | {c} vs {d} |")


def _bins(times: list[float], end: float, width: float = 0.5) -> tuple[list[float], list[float]]:
    n = max(1, math.ceil(end / width))
    counts = [0] * n
    for t in times:
        counts[min(n - 1, int(t / width))] += 1
    return [(i + 0.5) * width for i in range(n)], [c / width for c in counts]


def plot(
    name: str,
    title: str,
    result: dict[str, Any],
    limit: Callable[[float], float] | None,
    width: float = 0.5,
) -> Path | None:
    """Draw governor rate(s) and the server's accepted and refused rate over time."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: pip install -e '.[bench]'; no picture)")
        return None
    server: Server = result["server"]
    end = max([*server.accepted, *server.refused, 1.0])
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    x, acc = _bins(server.accepted, end, width)
    ax.step(x, acc, where="mid", label="server accepted /s", color="tab:green")
    x, ref = _bins(server.refused, end, width)
    ax.step(x, ref, where="mid", label="server answered 429 /s", color="tab:red", alpha=0.7)
    top = max([*acc, 1.0]) * 1.6
    for i, client in enumerate(result["clients"]):
        ts = [t for t, _ in client.samples]
        rates = [top if r is None else min(r, top) for _, r in client.samples]
        label = "governor rate (top: no limit)" + (
            f", client {i + 1}" if len(result["clients"]) > 1 else ""
        )
        ax.plot(ts, rates, label=label, linewidth=1.4)
    if limit is not None:
        xs = [i * end / 200 for i in range(201)]
        ax.plot(xs, [limit(t) for t in xs], "k--", linewidth=0.8, label="server limit")
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("seconds (virtual time)")
    ax.set_ylabel("requests / s")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"governor-{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-plot", action="store_true", help="print figures only")
    parser.add_argument("--sweep", action="store_true", help="the latency/burst/Retry-After sweep")
    parser.add_argument("--quick", action="store_true", help="with --sweep: the design-loop subset")
    args = parser.parse_args(argv)
    if args.sweep:
        sweep(quick=args.quick)
        return 0
    draw = not args.no_plot

    print("one-off 429 (call 2 of 200, Retry-After 1, no server limit), then 20 calls:")
    for label, kw in (("default", {}), ("rate=200, burst=200", {"rate": 200, "burst": 200})):
        r = one_off(**kw)
        print(
            f"  {label:22} 200 calls {r['first_wall']:.2f} s, next 20 calls {r['then_wall']:.3f} s,"
            f" rate after {r['rate_after']}, requests {r['requests']}"
        )
    if draw:
        r = one_off_demand()
        plot(
            "one-off",
            "Default governor, 20 workers, no server limit; call 5,000 answered 429 "
            "(Retry-After 1)",
            r,
            None,
            width=0.1,
        )
    r = one_off(fail_call=50, then=200)
    print(f"  default, 429 on call 50: next 200 calls {r['then_wall']:.2f} s")

    print("storm: 1,000 concurrent calls against 100/s (burst 100), ideal 10 s:")
    for label, kw in (
        ("default, pool 100", {"max_concurrency": 100}),
        ("default, pool 1000", {"max_concurrency": 1000}),
        ("default, pool 2000", {"max_concurrency": 2000}),
        ("rate=100, burst=100", {"rate": 100, "burst": 100}),
    ):
        r = storm(**kw)
        print(
            f"  {label:22} requests {r['requests']:5d} ({r['rate_limited']} answered 429), "
            f"wall {r['wall']:.2f} s = {r['wall'] / r['ideal']:.2f}x ideal"
        )
        if label == "default, pool 1000" and draw:
            plot(
                "storm", "1,000 calls at once, pool 1,000, server 100/s burst 100", r, lambda t: 100
            )

    r = halving()
    print(
        f"halving (100/s -> 50/s at 15 s, 60 workers, 30 s): accepted {r['accepted']} "
        f"(ideal {100 + 15 * 100 + 15 * 50}), requests {r['requests']}, 429s {r['rate_limited']}"
    )
    if draw:
        plot(
            "halving",
            "Server limit halves at t = 15 s (60 workers)",
            r,
            lambda t: 100 if t < 15 else 50,
        )
    r = shared()
    print(
        f"shared (two clients, one 100/s limit, 20 s): accepted {r['accepted']} "
        f"(split {r['per_client']}), requests {r['requests']}, 429s {r['rate_limited']}"
    )
    if draw:
        plot("shared", "Two clients, own governors, one 100/s limit", r, lambda t: 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
