"""The core endpoints (classify, saliency, explain, health, management) and the request primitives every area uses.

Each area's methods are a mixin of :class:`convlens_client.Client`; the client implements the primitives
declared in :class:`EndpointMethods` (``_request`` for typed results, ``_raw`` for pictures, ``_stream`` for
progress). Every endpoint has a typed method and a ``*_image()`` method that returns the server's picture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Union

from .._proto import convlens_pb2 as pb
from ..errors import ConvLensError
from ..inputs import ImageInput, build_fields
from ..results import Classification, Heatmap, ModelStatus, Prediction

if TYPE_CHECKING:
    from ..transport import Transport
    from ..transport.management import GrpcManagement, HttpManagement

Target = Union[int, str, None]  # class index or label; None = the network's top-1


class EndpointMethods:
    """Base of the per-area mixins: the primitives :class:`convlens_client.Client` implements."""

    _transport: Transport

    def _request(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: str
    ) -> pb.Response:
        """Call ``model`` with format=proto; the Response, which must hold the ``expect`` result."""
        raise NotImplementedError

    def _raw(self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> bytes:
        """Call ``model``; the body as the server encoded it (picture, npy, JSON)."""
        raise NotImplementedError

    def _stream(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: str | None
    ) -> Iterator[Any]:
        """Call ``model`` with progress=true: progress events, then the result (a Response holding ``expect``,
        or the encoded body when ``expect`` is None), last."""
        raise NotImplementedError

    def _manager(self, kind: str | None = None) -> HttpManagement | GrpcManagement:
        """The management API client of ``kind`` (default: this client's transport)."""
        raise NotImplementedError

    def describe(self, model: str, version: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """What endpoint ``model`` offers (its handler's describe dict, via the management API)."""
        raise NotImplementedError


class CoreMethods(EndpointMethods):
    """classify, saliency, explain, health and the management calls; mixed into :class:`convlens_client.Client`."""

    def classify(self, image: ImageInput, topk: int = 5, **fields: Any) -> list[Prediction]:
        """The ``topk`` most probable classes of ``image``, most probable first (no picture: no ``_image()``)."""
        return self.classification(image, topk, **fields).predictions

    def classification(self, image: ImageInput, topk: int = 5, **fields: Any) -> Classification:
        """:meth:`classify` with the backbone that answered: the whole ``Classification`` result."""
        msg = self._request("classify", {"image": image}, dict(topk=topk, **fields), "classification")
        return Classification.from_proto(msg.classification)

    def saliency(
        self,
        image: ImageInput,
        target: Target = None,
        method: str = "gradient",
        size: int | None = None,
        **fields: Any,
    ) -> Heatmap:
        """The saliency map of ``target`` (class index or label; default: top-1) on ``image``; with
        ``evaluate="deletion,insertion"`` its faithfulness curves too (``Heatmap.faithfulness``)."""
        params = dict(target=target, method=method, size=size, **fields)
        return Heatmap.from_proto(self._request("saliency", {"image": image}, params, "heatmap").heatmap)

    def saliency_image(
        self,
        image: ImageInput,
        target: Target = None,
        method: str = "gradient",
        view: str = "heatmap",
        format: str = "png",
        **fields: Any,
    ) -> bytes:
        """The saliency map rendered by the server: a ``heatmap`` or ``overlay`` picture
        (``png``/``jpeg``), or the raw array (``npy``)."""
        params = dict(target=target, method=method, view=view, format=format, **fields)
        return self._raw("saliency", {"image": image}, params)

    def raw(self, endpoint: str, images: Mapping[str, ImageInput] | None = None, **fields: Any) -> bytes:
        """Any endpoint's answer as the server encoded it (picture, npy, JSON), for fields no method names:
        ``images`` maps field names (``image``, ``image_2``, ``style``, ...) to images."""
        return self._raw(endpoint, dict(images or {}), fields)

    def raw_stream(
        self, endpoint: str, images: Mapping[str, ImageInput] | None = None, **fields: Any
    ) -> Iterator[Any]:
        """:meth:`raw` of an iterative endpoint with progress: :class:`~convlens_client.Progress` events as they
        arrive, then the body as the server encoded it (bytes), last."""
        return self._stream(endpoint, dict(images or {}), fields, None)

    def explain(self, image: ImageInput, target: Target = None, timeout: float | None = None) -> bytes:
        """TorchServe's explanation of ``classify`` (``POST /explanations/classify``): a PNG
        saliency map. HTTP only: TorchServe has no gRPC explanations RPC."""
        fields = build_fields({"image": image}, {"target": target})
        return self._transport.explain("classify", fields, timeout=timeout)

    def health(self, timeout: float | None = None) -> str:
        """TorchServe's health: ``"Healthy"`` or ``"Unhealthy"`` (models may still be loading)."""
        return self._transport.health(timeout=timeout)

    # -- management (management token; HTTP port 8081 or gRPC ManagementAPIsService 7071) ----

    def models(self, timeout: float | None = None) -> list[ModelStatus]:
        """Every served model (endpoint) with its workers, sorted by name; ``.ready`` says whether
        it can serve now (TorchServe's /ping says Healthy while models still load)."""
        manager = self._manager()
        names = sorted({str(m.get("modelName")) for m in manager.list_models(timeout=timeout)})
        return [
            ModelStatus.from_describe(manager.describe(name, customized=False, timeout=timeout)[0])
            for name in names
        ]

    def describe(self, model: str, version: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """What endpoint ``model`` offers: its handler's describe dict (TorchServe's describe call
        with ``customized=true``): backbone, device, layers, limits and the endpoint's own keys
        (methods, styles, ...)."""
        entries = self._manager().describe(model, version, customized=True, timeout=timeout)
        meta = entries[0].get("customizedMetadata") if entries else None
        if isinstance(meta, str):  # a handler that returned JSON text
            try:
                meta = json.loads(meta)
            except ValueError:
                pass
        if not isinstance(meta, dict):
            raise ConvLensError(f"'{model}' has no ConvLens description", type="MalformedResponse")
        return meta

    def backbones(self, model: str = "classify", timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """The networks ``model`` serves (usable as ``backbone=``): the default and the registered models, each
        with its class count and, for registered ones, labels, layers and preprocessing."""
        backbones = self.describe(model, timeout=timeout).get("backbones")
        if not isinstance(backbones, dict):
            raise ConvLensError(f"'{model}' does not list its backbones", type="MalformedResponse")
        return backbones

    def layers(self, model: str = "saliency", timeout: float | None = None) -> list[str]:
        """The named layers of ``model``'s backbone (usable as ``layer=``), input to output."""
        layers = self.describe(model, timeout=timeout).get("layers")
        if not isinstance(layers, list):
            raise ConvLensError(f"'{model}' does not list its layers", type="MalformedResponse")
        return [str(layer) for layer in layers]
