"""Retries with exponential backoff and full jitter, and the one-time token refresh, for every call.

Both transports run each request through :func:`call_with_retries`, so every client method (the
endpoint mixins included) gets the same behaviour without code of its own.

Which failures are retried (and nothing else; never a 4xx, never a handler's own error):

* HTTP 503 (queue full, no worker) and 507 (out of memory), and failures to connect;
* gRPC ``UNAVAILABLE`` (no connection, server restarting);
* gRPC ``RESOURCE_EXHAUSTED`` (raised as a 503 :class:`~convlens_client.errors.Busy`) unless its
  message says a message is larger than a size limit (``Received message larger than max`` /
  ``exceeds maximum``): a size limit gives the same answer on every attempt, so that case is a
  413 :class:`~convlens_client.errors.TooLarge` and is not retried;
* TorchServe 0.12 reports a full job queue over gRPC as ``INTERNAL`` with the message
  ``Model "<name>" has no worker to serve inference request. Please use scale workers API to add
  workers.`` (the same text as its HTTP 503); the gRPC transport recognises that message and
  raises a 503 :class:`~convlens_client.errors.Busy`, which is retried. Any other ``INTERNAL``
  is a server failure that would repeat, so it is not.

Which errors qualify is decided by :func:`is_retryable` from the exception the transport raised:
its ``code`` (HTTP-style, the same on both transports) and ``type``.

The delay before retry ``n`` (0-based) is ``random() * min(max_backoff, backoff * 2**n)``
("full jitter": spreads the clients of a busy server out instead of having them retry in step).
"""

from __future__ import annotations

import random as _random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from ..errors import ConvLensError, Unauthorized

if TYPE_CHECKING:
    from .connection import Connection

T = TypeVar("T")

RETRYABLE_CODES = frozenset({503, 507})
# Types the transports give to failures before any answer came back (connection refused, reset).
CONNECTION_TYPES = frozenset({"ConnectionError", "UNAVAILABLE", "RemoteProtocolError"})


def is_retryable(error: ConvLensError) -> bool:
    """Whether a failed call may succeed when repeated: 503/507, or no connection (see the module doc)."""
    return error.code in RETRYABLE_CODES or error.type in CONNECTION_TYPES


@dataclass
class RetryPolicy:
    """How often and how long to wait: ``retries`` extra attempts after the first one.

    ``sleep`` and ``random`` are injectable so tests can record the delays instead of waiting.
    """

    retries: int = 2
    backoff: float = 0.5  # seconds; the first retry waits up to this long
    max_backoff: float = 10.0  # cap of a single delay, before jitter
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff and max_backoff must be >= 0")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): full jitter on a capped exponential."""
        return self.random() * min(self.max_backoff, self.backoff * (2.0**attempt))


# The token a call sends; a TokenSource also has refresh(used) -> bool (see convlens_client.transport.auth).
TokenProvider = Callable[[], Optional[str]]


def call_with_retries(
    attempt: Callable[[], T], policy: RetryPolicy, token: TokenProvider | None = None
) -> T:
    """Run ``attempt`` until it succeeds, retrying retryable failures per ``policy``.

    On :class:`~convlens_client.errors.Unauthorized`, ``token.refresh(used)`` (when the provider
    has it) is asked once per call for a newer token (re-read from the key file, or rotated with
    TorchServe's API key); the call is repeated once if it got one. A second Unauthorized is
    raised as it is. Retries of retryable failures are counted separately.
    """
    refresh: Callable[[str | None], bool] | None = getattr(token, "refresh", None)
    retried = 0
    refreshed = False
    while True:
        used = token() if token is not None else None
        try:
            return attempt()
        except Unauthorized:
            if refresh is None or refreshed:
                raise
            refreshed = True
            if not refresh(used):
                raise
        except ConvLensError as exc:
            if retried >= policy.retries or not is_retryable(exc):
                raise
            policy.sleep(policy.delay(retried))
            retried += 1


class Retrying:
    """Base of the HTTP and gRPC clients: the token they send, the default timeout, and calls run with retries."""

    def __init__(self, settings: Connection, token: TokenProvider) -> None:
        self._token = token
        self._timeout = settings.timeout
        self.retry = settings.retry

    def _retried(self, attempt: Callable[[], T], token: TokenProvider | None = None, refresh: bool = True) -> T:
        """``attempt`` through :func:`call_with_retries`; a refused ``token`` (default: this client's) is
        refreshed once unless ``refresh`` is False."""
        return call_with_retries(attempt, self.retry, (token or self._token) if refresh else None)
