"""``AsyncClient``: the :class:`~convlens_client.Client` surface for asyncio programs.

Design: every method of :class:`Client` (its own, and every endpoint mixin's, present or added
later) gets an ``async`` twin generated from it when this module is imported; the twin runs the
synchronous method in a worker thread of the client's own pool, over one shared ``Client``. That
is thread-safe (one ``httpx.Client`` pool or one gRPC channel for all calls; the token source
locks), so requests really run concurrently: the threads block on the network, not on the GIL.

Why threads and not grpc.aio / httpx.AsyncClient: a native-async transport would need a second
implementation of both transports, the retry loop, token refresh and every endpoint method, and
would drift from the sync client each time an endpoint is added. Generating the wrappers keeps
the two surfaces identical by construction, with the same results and exceptions; the cost is one
thread per call in flight (``max_concurrency``, default 16), which is small next to a model's
inference time. Methods that return an iterator (progress streams) give an async iterator whose
items are fetched in the pool too.

>>> async with AsyncClient(transport="grpc") as client:
...     tops = await asyncio.gather(*(client.classify(p) for p in paths))
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .client import Client

T = TypeVar("T")
_DONE = object()


class AsyncResultIterator(AsyncIterator[Any]):
    """An async view of a blocking iterator: each ``next()`` runs in the client's pool."""

    def __init__(self, iterator: Iterator[Any], run: Callable[..., Any]) -> None:
        self._iterator = iterator
        self._run = run

    def __aiter__(self) -> AsyncResultIterator:
        return self

    async def __anext__(self) -> Any:
        item = await self._run(next, self._iterator, _DONE)
        if item is _DONE:
            raise StopAsyncIteration
        return item


class AsyncClient:
    """A ConvLens client for asyncio: the same methods as :class:`Client`, awaitable.

    Takes :class:`Client`'s arguments, plus ``max_concurrency`` (worker threads, i.e. calls in
    flight at once; default 16). Use ``async with`` or ``await client.close()``. ``client.sync``
    is the underlying :class:`Client`.
    """

    def __init__(self, *args: Any, max_concurrency: int = 16, **kwargs: Any) -> None:
        self.sync = Client(*args, **kwargs)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="convlens")

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        if isinstance(result, Iterator):
            return AsyncResultIterator(result, self._run)
        return result

    async def close(self) -> None:
        """Close the connections and the worker pool (waits for calls in flight)."""
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        """Wait for calls in flight, then close the connections."""
        self._pool.shutdown(wait=True)
        self.sync.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:  # plain attributes (transport_name, retry, tls)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.sync, name)

    def __repr__(self) -> str:
        return f"AsyncClient(transport={self.sync.transport_name!r})"


def _async_twin(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """The awaitable twin of ``Client.<name>``: runs it in the client's pool."""

    @functools.wraps(method)
    async def twin(self: AsyncClient, *args: Any, **kwargs: Any) -> Any:
        return await self._run(getattr(self.sync, name), *args, **kwargs)

    twin.__doc__ = f"Awaitable :meth:`Client.{name}`.\n\n{inspect.getdoc(method) or ''}"
    return twin


def public_methods(cls: type) -> list[str]:
    """The public methods of ``cls`` that get async twins (everything but ``close``)."""
    return sorted(
        name
        for name, value in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    )


for _name in public_methods(Client):
    setattr(AsyncClient, _name, _async_twin(_name, getattr(Client, _name)))
