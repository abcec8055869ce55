"""The middleware's added latency per request with a warm cache, against the same handler
unprotected, in the same run: printed for the README, never gated on (absolute times on a
shared 2-core machine say more about the neighbours than about the code).

Five rounds of 1000 interleaved request pairs; each figure is the median over the rounds, so
one round hit by a neighbour's burst does not decide it. Each request is timed twice: wall
clock, and the thread's CPU time (``time.thread_time_ns``), which a preempting neighbour on a
loaded machine does not inflate — on a shared machine the wall-clock p99 is mostly the
scheduler's, the CPU-time p99 the code's.
"""

import asyncio
import statistics
import time
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from flask import Flask

from keyplane import AsyncKeyVerifier, KeyVerifier, UsageReporter
from keyplane.fastapi import KeyplaneFastAPI, KeyplaneKey
from keyplane.flask import KeyplaneFlask, require_key

ROUNDS = 5
PAIRS = 1000


def pct(xs: list[int], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] / 1e6


Timing = tuple[int, int]  # (wall ns, thread CPU ns)


def clocks() -> Timing:
    return time.perf_counter_ns(), time.thread_time_ns()


def since(start: Timing) -> Timing:
    return time.perf_counter_ns() - start[0], time.thread_time_ns() - start[1]


def line(kind: str, rounds: list[tuple[list[int], list[int]]]) -> str:
    med = statistics.median
    o50 = med(pct(o, 0.5) for o, _ in rounds)
    o99 = med(pct(o, 0.99) for o, _ in rounds)
    g50 = med(pct(g, 0.5) for _, g in rounds)
    g99 = med(pct(g, 0.99) for _, g in rounds)
    return (
        f"  {kind}: unprotected p50 {o50:.3f} ms p99 {o99:.3f} ms; protected p50 {g50:.3f} ms "
        f"p99 {g99:.3f} ms; added p50 {g50 - o50:.3f} ms p99 {g99 - o99:.3f} ms; "
        f"ratio p50 {g50 / o50:.2f}x p99 {g99 / o99:.2f}x"
    )


def report(name: str, rounds: list[list[tuple[Timing, Timing]]]) -> str:
    wall = [([o[0] for o, _ in r], [g[0] for _, g in r]) for r in rounds]
    cpu = [([o[1] for o, _ in r], [g[1] for _, g in r]) for r in rounds]
    head = f"[{name}] warm cache, median of {ROUNDS} rounds of {PAIRS} request pairs"
    return "\n".join([head, line("wall", wall), line("cpu ", cpu)])


def handler(thing_id: str) -> dict[str, Any]:
    return {"id": thing_id}


def test_flask_added_latency_with_a_warm_cache(keyplane_server, new_client, capsys):
    c = new_client("latency flask")
    token = keyplane_server.token_with("verify", "usage:write")
    reporter = UsageReporter(keyplane_server.url, token, flush_interval=0.2)
    verifier = KeyVerifier(keyplane_server.url, token, cache_ttl=600)
    app = Flask("latency")
    KeyplaneFlask(app, verifier=verifier, reporter=reporter)
    app.add_url_rule("/open/<thing_id>", "open", handler)
    app.add_url_rule("/guarded/<thing_id>", "guarded", require_key()(handler))
    http = app.test_client()
    headers = {"x-api-key": c["api_key"]}
    assert http.get("/guarded/1", headers=headers).status_code == 200  # warms the cache

    def timed(path: str) -> Timing:
        t = clocks()
        assert http.get(path, headers=headers).status_code == 200
        return since(t)

    # Interleaved, so both see the same machine load.
    rounds = [[(timed("/open/1"), timed("/guarded/1")) for _ in range(PAIRS)] for _ in range(ROUNDS)]
    assert verifier.stats.remote == 1 and verifier.stats.cached == ROUNDS * PAIRS
    assert reporter.close() and reporter.stats.sent == ROUNDS * PAIRS + 1
    with capsys.disabled():
        print("\n" + report("flask", rounds))


def test_fastapi_added_latency_with_a_warm_cache(keyplane_server, new_client, capsys):
    c = new_client("latency fastapi")
    token = keyplane_server.token_with("verify", "usage:write")
    reporter = UsageReporter(keyplane_server.url, token, flush_interval=0.2)
    verifier = AsyncKeyVerifier(keyplane_server.url, token, cache_ttl=600)
    app = FastAPI()
    KeyplaneFastAPI(app, verifier=verifier, reporter=reporter)

    async def endpoint(thing_id: str) -> dict[str, Any]:
        return handler(thing_id)

    app.add_api_route("/open/{thing_id}", endpoint)
    app.add_api_route("/guarded/{thing_id}", endpoint, dependencies=[Depends(KeyplaneKey())])

    async def measure() -> list[list[tuple[Timing, Timing]]]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        headers = {"x-api-key": c["api_key"]}
        async with httpx.AsyncClient(transport=transport, base_url="http://svc", headers=headers) as http:

            async def timed(path: str) -> Timing:
                t = clocks()
                assert (await http.get(path)).status_code == 200
                return since(t)

            assert (await http.get("/guarded/1")).status_code == 200
            rounds = [[(await timed("/open/1"), await timed("/guarded/1")) for _ in range(PAIRS)] for _ in range(ROUNDS)]
        await verifier.keyplane.aclose()
        return rounds

    rounds = asyncio.run(measure())
    assert verifier.stats.remote == 1 and verifier.stats.cached == ROUNDS * PAIRS
    assert reporter.close() and reporter.stats.sent == ROUNDS * PAIRS + 1
    with capsys.disabled():
        print("\n" + report("fastapi", rounds))


def test_the_verifier_alone_with_a_warm_cache(keyplane_server, new_client, capsys):
    c = new_client("latency verifier")
    verifier = KeyVerifier(keyplane_server.url, keyplane_server.admin_token, cache_ttl=600)
    args: dict[str, Any] = {"ip": "127.0.0.1", "endpoint": "GET /things/:thing_id"}
    assert verifier.check(c["api_key"], **args).ok
    ns: list[int] = []
    for _ in range(ROUNDS * PAIRS):
        t = time.perf_counter_ns()
        verifier.check(c["api_key"], **args)
        ns.append(time.perf_counter_ns() - t)
    with capsys.disabled():
        print(f"\n[verifier] check() of a cached key: p50 {pct(ns, 0.5):.4f} ms p99 {pct(ns, 0.99):.4f} ms")
    assert verifier.stats.remote == 1
