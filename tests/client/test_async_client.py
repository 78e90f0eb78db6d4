"""AsyncClient: the same surface as Client (generated, so new endpoint methods come along), the same
results, and real concurrency when fanning out."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest

from client_fakes import TOKEN, Reply, Servers, classification, heatmap, json_error, proto_reply
from convlens_client import AsyncClient, Client, InvalidRequest
from convlens_client.async_client import public_methods

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def make(servers: Servers, transport: str, **kwargs) -> AsyncClient:
    return AsyncClient("127.0.0.1", transport=transport, http_port=servers.http_port,
                       grpc_port=servers.grpc_port, token=TOKEN, retries=0, **kwargs)


def test_every_public_client_method_has_an_awaitable_twin() -> None:
    names = public_methods(Client)
    assert {"classify", "saliency", "saliency_image", "explain", "health", "models", "describe", "layers"} <= set(names)
    for name in names:
        twin = getattr(AsyncClient, name)
        assert inspect.iscoroutinefunction(twin), name
        assert inspect.signature(twin) == inspect.signature(getattr(Client, name)), name
        assert twin.__doc__ and name in twin.__doc__


def test_fan_out_runs_concurrently_and_matches_the_sync_client(servers: Servers, backend, transport) -> None:
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()

    def reply(request) -> Reply:
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.25)
        with lock:
            in_flight["now"] -= 1
        if request.model == "classify":
            return proto_reply(classification((285, "Egyptian cat", 0.75, 9.5), (281, "tabby", 0.125, 7.75)))
        return proto_reply(heatmap(width=4, height=3))

    backend.reply = reply

    async def fan_out():
        async with make(servers, transport) as client:
            started = time.monotonic()
            results = await asyncio.gather(*(client.classify(PNG, topk=2) for _ in range(6)),
                                           client.saliency(PNG, target="tabby"))
            return results, time.monotonic() - started

    results, elapsed = asyncio.run(fan_out())
    assert elapsed < 1.0  # 7 calls of 0.25 s each: sequential would take 1.75 s
    assert in_flight["max"] >= 4
    with servers.client(transport) as sync:
        assert results[:6] == [sync.classify(PNG, topk=2)] * 6
        assert results[6] == sync.saliency(PNG, target="tabby")


def test_errors_are_the_same_exceptions(servers: Servers, backend, transport) -> None:
    backend.reply = Reply(json_error(400, "InvalidParameter", "bad topk", "topk"), 400,
                          "application/json")
    if transport == "grpc":
        backend.reply = Reply(json_error(400, "InvalidParameter", "bad topk", "topk"))

    async def call():
        async with make(servers, transport) as client:
            await client.classify(PNG, topk=0)

    with pytest.raises(InvalidRequest) as info:
        asyncio.run(call())
    assert info.value.field == "topk"


def test_iterators_become_async_iterators(servers: Servers, backend) -> None:
    """What a progress stream (stream=True) returns: a blocking iterator, consumed without blocking the loop."""

    def events():
        for step in range(3):
            time.sleep(0.01)
            yield step

    async def consume():
        async with make(servers, "http") as client:
            stream = await client._run(events)
            return [item async for item in stream], client.transport_name

    assert asyncio.run(consume()) == ([0, 1, 2], "http")
