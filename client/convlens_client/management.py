"""TorchServe's management API over both transports: list models, describe one, rotate a token.

HTTP: ``GET /models``, ``GET /models/{name}[/{version}]?customized=true`` and
``GET /token?type=...`` on the management port (8081). gRPC: ``ManagementAPIsService.ListModels``
and ``DescribeModel`` on the gRPC management port (7071). TorchServe answers both with the same
JSON text (over gRPC inside ``ManagementResponse.msg``), so the parsed answers are identical and
the client builds the same results from either. Calls use the management key (see
:mod:`convlens_client.auth`) and get the same retries as inference calls.

Two quirks of TorchServe 0.12.0 (checked against the real server): gRPC ``ListModels`` with the
proto default ``limit=0`` answers an empty page, so a page size is always sent; and
``GET /token`` answers an empty body, the new key being written only into ``key_file.json``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, List, Optional

import grpc
import httpx

from ._proto import management_pb2, management_pb2_grpc
from .errors import ConvLensError
from .retry import RetryPolicy, call_with_retries
from .tls import TLSConfig
from .transport_grpc import error_from_rpc, make_channel
from .transport_http import _host, _timeout, _verify, error_from_response, send_errors

TokenProvider = Callable[[], Optional[str]]
PAGE_SIZE = 100  # TorchServe's HTTP default page size


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ConvLensError(f"{what}: not JSON: {text[:200]!r}", type="MalformedResponse") from None


def collect_pages(fetch: Callable[[int, int], Any]) -> List[dict]:
    """Every model of a paginated ListModels: ``fetch(limit, offset)`` -> ``{models, nextPageToken}``."""
    models: List[dict] = []
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


class HttpManagement:
    """The REST management API (port 8081)."""

    def __init__(
        self,
        host: str,
        port: int,
        token: TokenProvider,
        timeout: float,
        scheme: str = "http",
        retry: Optional[RetryPolicy] = None,
        tls: Optional[TLSConfig] = None,
        client: Optional[httpx.Client] = None,
    ) -> None:
        self.base_url = f"{scheme}://{_host(host)}:{port}"
        self._token = token
        self.retry = retry or RetryPolicy()
        self._http = client or httpx.Client(
            base_url=self.base_url, timeout=timeout, verify=_verify(scheme, tls)
        )

    def _get(self, path: str, token: TokenProvider, timeout: Optional[float], refresh: bool = True) -> str:
        def attempt() -> str:
            key = token()
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            response = send_errors(
                self.base_url, lambda: self._http.get(path, headers=headers, timeout=_timeout(timeout))
            )
            if not response.is_success:
                raise error_from_response(response)
            return response.text

        return call_with_retries(attempt, self.retry, token if refresh else None)

    def list_models(self, timeout: Optional[float] = None) -> List[dict]:
        """``GET /models``, every page: ``[{"modelName", "modelUrl"}, ...]``."""
        return collect_pages(
            lambda limit, offset: _json(
                self._get(f"/models?limit={limit}&next_page_token={offset}", self._token, timeout),
                "ListModels",
            )
        )

    def describe(
        self, model: str, version: Optional[str] = None, customized: bool = True, timeout: Optional[float] = None
    ) -> List[dict]:
        """``GET /models/{model}[/{version}]``: one entry per version (with ``customizedMetadata``)."""
        path = f"/models/{model}" + (f"/{version}" if version else "")
        if customized:
            path += "?customized=true"
        return _json(self._get(path, self._token, timeout), "DescribeModel")

    def rotate_token(self, kind: str, api_key: str, timeout: Optional[float] = None) -> None:
        """``GET /token?type=kind`` with the API key: TorchServe writes a new key into its key file."""
        self._get(f"/token?type={kind}", lambda: api_key, timeout, refresh=False)

    def close(self) -> None:
        """Release the connection."""
        self._http.close()


class GrpcManagement:
    """``ManagementAPIsService`` (port 7071)."""

    def __init__(
        self,
        host: str,
        port: int,
        token: TokenProvider,
        timeout: float,
        secure: bool = False,
        retry: Optional[RetryPolicy] = None,
        tls: Optional[TLSConfig] = None,
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        self.target = f"{_host(host)}:{port}"
        self._token = token
        self._timeout = timeout
        self.retry = retry or RetryPolicy()
        self._channel = channel or make_channel(self.target, secure, tls)
        self._stub = management_pb2_grpc.ManagementAPIsServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def _call(self, method: Callable[..., Any], request: Any, timeout: Optional[float]) -> str:
        def attempt() -> str:
            key = self._token()
            metadata = (("authorization", f"Bearer {key}"),) if key else ()
            try:
                response = method(request, metadata=metadata, timeout=timeout or self._timeout)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from None
            return str(response.msg)

        return call_with_retries(attempt, self.retry, self._token)

    def list_models(self, timeout: Optional[float] = None) -> List[dict]:
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
        self, model: str, version: Optional[str] = None, customized: bool = True, timeout: Optional[float] = None
    ) -> List[dict]:
        """``DescribeModel``: one entry per version (with ``customizedMetadata``)."""
        request = management_pb2.DescribeModelRequest(
            model_name=model, model_version=version or "", customized=customized
        )
        return _json(self._call(self._stub.DescribeModel, request, timeout), "DescribeModel")

    def close(self) -> None:
        """Release the connection."""
        self._channel.close()
