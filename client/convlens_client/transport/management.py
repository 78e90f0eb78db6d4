"""TorchServe's management API over both transports: list models, describe one, rotate a token.

HTTP: ``GET /models``, ``GET /models/{name}[/{version}]?customized=true`` and
``GET /token?type=...`` on the management port (8081). gRPC: ``ManagementAPIsService.ListModels``
and ``DescribeModel`` on the gRPC management port (7071). TorchServe answers both with the same
JSON text (over gRPC inside ``ManagementResponse.msg``), so the parsed answers are identical and
the client builds the same results from either. Calls use the management key (see
:mod:`convlens_client.transport.auth`) and get the same retries as inference calls.

Two quirks of TorchServe 0.12.0 (checked against the real server): gRPC ``ListModels`` with the
proto default ``limit=0`` answers an empty page, so a page size is always sent; and
``GET /token`` answers an empty body, the new key being written only into ``key_file.json``.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import grpc
import httpx

from .._proto import management_pb2, management_pb2_grpc
from ..errors import ConvLensError
from .connection import Connection
from .grpc import GrpcSession
from .http import HttpSession, checked
from .retry import TokenProvider

PAGE_SIZE = 100  # TorchServe's HTTP default page size


def _json(text: str, what: str) -> Any:
    """``text`` parsed as JSON; a MalformedResponse error naming ``what`` otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        raise ConvLensError(f"{what}: not JSON: {text[:200]!r}", type="MalformedResponse") from None


def collect_pages(fetch: Callable[[int, int], Any]) -> list[dict]:
    """Every model of a paginated ListModels: ``fetch(limit, offset)`` -> ``{models, nextPageToken}``."""
    models: list[dict] = []
    offset = 0
    while True:
        page = fetch(PAGE_SIZE, offset)
        if not isinstance(page, dict):
            raise ConvLensError(f"ListModels: unexpected answer {page!r:.200}", type="MalformedResponse")
        batch = page.get("models") or []
        models.extend(batch)
        try:
            following = int(page.get("nextPageToken", ""))
        except (TypeError, ValueError):
            return models
        if not batch or following <= offset:
            return models
        offset = following


class HttpManagement(HttpSession):
    """The REST management API (port 8081)."""

    def __init__(self, settings: Connection, token: TokenProvider, client: httpx.Client | None = None) -> None:
        super().__init__(settings, settings.management_port, token, client)

    def _get(self, path: str, token: TokenProvider, timeout: float | None, refresh: bool = True) -> str:
        """``GET path`` with ``token``; the body of a successful answer."""
        def attempt() -> str:
            return checked(self._request("GET", path, token(), timeout)).text

        return self._retried(attempt, token, refresh)

    def list_models(self, timeout: float | None = None) -> list[dict]:
        """``GET /models``, every page: ``[{"modelName", "modelUrl"}, ...]``."""
        return collect_pages(
            lambda limit, offset: _json(
                self._get(f"/models?limit={limit}&next_page_token={offset}", self._token, timeout),
                "ListModels",
            )
        )

    def describe(
        self, model: str, version: str | None = None, customized: bool = True, timeout: float | None = None
    ) -> list[dict]:
        """``GET /models/{model}[/{version}]``: one entry per version (with ``customizedMetadata``)."""
        path = f"/models/{model}" + (f"/{version}" if version else "")
        if customized:
            path += "?customized=true"
        return _json(self._get(path, self._token, timeout), "DescribeModel")

    def rotate_token(self, kind: str, api_key: str, timeout: float | None = None) -> None:
        """``GET /token?type=kind`` with the API key: TorchServe writes a new key into its key file."""
        self._get(f"/token?type={kind}", lambda: api_key, timeout, refresh=False)


class GrpcManagement(GrpcSession):
    """``ManagementAPIsService`` (port 7071)."""

    def __init__(self, settings: Connection, token: TokenProvider, channel: grpc.Channel | None = None) -> None:
        super().__init__(settings, settings.grpc_management_port, token, channel)
        self._stub = management_pb2_grpc.ManagementAPIsServiceStub(self._channel)

    def _call(self, method: Callable[..., Any], request: Any, timeout: float | None) -> str:
        """One management RPC; its JSON text (``msg``)."""
        return self._unary(method, request, timeout, lambda response: str(response.msg))

    def list_models(self, timeout: float | None = None) -> list[dict]:
        """``ListModels``, every page: ``[{"modelName", "modelUrl"}, ...]``."""
        return collect_pages(
            lambda limit, offset: _json(
                self._call(
                    self._stub.ListModels,
                    management_pb2.ListModelsRequest(limit=limit, next_page_token=offset),
                    timeout,
                ),
                "ListModels",
            )
        )

    def describe(
        self, model: str, version: str | None = None, customized: bool = True, timeout: float | None = None
    ) -> list[dict]:
        """``DescribeModel``: one entry per version (with ``customizedMetadata``)."""
        request = management_pb2.DescribeModelRequest(
            model_name=model, model_version=version or "", customized=customized
        )
        return _json(self._call(self._stub.DescribeModel, request, timeout), "DescribeModel")
