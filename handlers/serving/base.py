"""The TorchServe handler lifecycle shared by every ConvLens endpoint, kept thin.

initialize: load the backbone named in the model's YAML config on TorchServe's device. handle: for each request
of the batch, flatten its fields, let the endpoint parse and run them on the engine, encode the result; a bad
request gets its own 4xx status and JSON (or protobuf) error body without failing its neighbours in the batch.
torch and the backbones are imported only by handlers that use a backbone (`uses_backbone`): `stylize` runs ONNX
Runtime alone, and its worker stays torch-free (docs/performance.md, "Memory and cold start").
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from convlens.core import images
from convlens.core.errors import ConvLensError

from .config import EndpointConfig, yaml_name
from .encode import encode_error, json_bytes
from .progress import ProgressStream, close_grpc_stream, over_grpc, progress_requested, send_intermediate
from .requests import request_fields, wants_proto
from .spec import REGISTRY, EndpointSpec

if TYPE_CHECKING:
    from convlens.core import backbones

    from .shelf import BackboneShelf


logger = logging.getLogger(__name__)


def is_explain(idx: int, context: Any) -> bool:
    """Whether request `idx` came through TorchServe's /explanations route."""
    return str(context.get_request_header(idx, "explain")) == "True"


class ServerFault(ConvLensError):
    """An unexpected failure inside the worker (500) or an exhausted resource (507): not the caller's fault."""


@dataclass
class Prepared:
    """One request parsed and decoded: requests with equal `key` run together as one engine call."""

    key: Hashable
    item: Any


class ConvLensHandler:
    """Base of the endpoint handlers: subclasses set `task` and implement `run` (and may extend `describe`)."""

    task: ClassVar[str] = ""
    streams_progress: ClassVar[bool] = False  # iterative endpoints: progress=true streams events (progress.py)
    uses_backbone: ClassVar[bool] = True  # False: no torch, no backbone in this worker (stylize: ONNX Runtime only)

    def __init__(self) -> None:
        self.initialized = False
        self.backbone: backbones.Backbone | None = None  # the configured default
        self.shelf: BackboneShelf | None = None  # the default and the registered models a request may name
        self.config = EndpointConfig()
        self.progress: ProgressStream | None = None  # the current request's progress callback, when streaming
        self.send_progress = send_intermediate

    # --- lifecycle --------------------------------------------------------------------------------------------

    def initialize(self, context: Any) -> None:
        """Check the model YAML's `convlens:` settings, then load the configured backbone on the worker's device."""
        started = time.perf_counter()
        try:
            self.config = EndpointConfig.parse((getattr(context, "model_yaml_config", None) or {}).get("convlens"),
                                               yaml_name(context, self.task))
            if self.uses_backbone:
                self.backbone = self.load_backbone(context.system_properties)
                from .shelf import BackboneShelf

                models = Path(context.system_properties.get("model_dir", ".")) / self.config.models
                self.shelf = BackboneShelf(self.backbone, models if models.is_dir() else None,
                                           self.config.max_loaded_models)
        except Exception as exc:
            # One clear line in the model log; TorchServe then retries this model's worker, others keep serving.
            logger.error("ConvLens %s cannot load its model: %s", self.task, exc)
            raise
        self.initialized = True
        logger.info("ConvLens %s ready: backbone %s in %.1fs (registered models: %s)", self.task,
                    f"{self.backbone.name} on {self.backbone.device}" if self.backbone else "none",
                    time.perf_counter() - started, ", ".join(self.shelf.names()[1:]) if self.shelf else "none")

    def load_backbone(self, props: Mapping[str, Any]) -> backbones.Backbone:
        """The YAML's backbone (weights relative to the archive) on TorchServe's device, with its torch threads."""
        import torch

        from convlens.core import backbones

        if self.config.torch_threads > 0:
            torch.set_num_threads(self.config.torch_threads)
        weights = self.config.weights
        if weights and not os.path.isabs(weights):
            weights = os.path.join(props.get("model_dir", "."), weights)
        gpu_id = props.get("gpu_id")  # None: TorchServe gave this worker no GPU (number_of_gpu=0): stay on CPU
        device = backbones.pick_device(gpu_id) if gpu_id is not None else torch.device("cpu")
        return backbones.load_backbone(self.config.backbone or backbones.DEFAULT_BACKBONE, weights, device)

    def handle(self, data: list[Mapping[str, Any]], context: Any) -> list[bytes]:
        """One response per request of the batch, each with its own status and content type."""
        if str(context.get_request_header(0, "describe")) == "True":
            return [json_bytes(self.describe())]
        return [self.handle_one(idx, row, context) for idx, row in enumerate(data)]

    def handle_one(self, idx: int, row: Mapping[str, Any], context: Any) -> bytes:
        # /explanations is decided per request (TorchServe's BaseHandler looks at request 0 for the whole batch)
        explain = is_explain(idx, context)
        self.progress = None
        try:
            if self.streams_progress and progress_requested(row, grpc=over_grpc(idx, context)):
                self.progress = ProgressStream(idx, context, wants_proto(row), self.send_progress)
                self.progress.start()
            fields = request_fields(row)
            body, content_type = self.run(fields, explain)
        except Exception as exc:  # noqa: BLE001 - a worker must answer every request, never die on one
            body, content_type = self.fail(idx, context, self.as_error(exc), row)
        stream, self.progress = self.progress, None
        if stream is not None:
            context.set_response_content_type(idx, content_type)
            return stream.finish(body)
        return self.answer(idx, context, body, content_type)

    @staticmethod
    def answer(idx: int, context: Any, body: bytes, content_type: str) -> bytes:
        context.set_response_content_type(idx, content_type)
        close_grpc_stream(idx, context)
        return body

    def as_error(self, exc: Exception) -> ConvLensError:
        """The caller's error as it is; out of memory as 507; anything else as a logged 500."""
        if isinstance(exc, ConvLensError):
            return exc
        torch = sys.modules.get("torch")  # a worker without torch cannot run out of torch's memory
        if isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.OutOfMemoryError)):
            logger.error("out of memory in %s", self.task, exc_info=exc)
            return ServerFault("out of memory while processing this request; try a smaller image", code=507,
                               type="OutOfMemory")
        logger.error("unexpected failure in %s", self.task, exc_info=exc)
        return ServerFault("internal error while processing this request", code=500, type="InternalError")

    @staticmethod
    def fail(idx: int, context: Any, error: ConvLensError, row: Mapping[str, Any]) -> tuple[bytes, str]:
        context.set_response_status(error.code, error.type, idx)
        return encode_error(error, proto=wants_proto(row))

    # --- for subclasses ---------------------------------------------------------------------------------------

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        """Parse the fields, call the engine, return (body, content type)."""
        raise NotImplementedError

    @property
    def spec(self) -> EndpointSpec:
        """This endpoint's request spec (fields, defaults, bounds): what describe lists and the parser reads.

        The handler module imports its area's declarations (serving/specs/<area>.py), so a worker loads only
        its own area's specs and engine code."""
        return REGISTRY[self.task]

    def parse(self, fields: Mapping[str, Any]) -> Any:
        """This endpoint's typed params from the flat field map; errors name the bad field."""
        return self.spec.parse(fields)

    def decode(self, data: bytes, min_side: int, field: str = "image"):
        """Decode an image field under this endpoint's limits, at no more than the resolution needed."""
        return images.decode_image(data, field=field, limits=self.config.limits, min_side=min_side)

    def check_backbone(self, requested: str | None) -> backbones.Backbone:
        """The requested backbone (none: the default): the default or a registered model, loaded on first use;
        a request naming another one gets a 400 that says which are served."""
        if self.shelf is None or self.shelf.default is not self.backbone:  # given a backbone directly (tests)
            from .shelf import BackboneShelf

            assert self.backbone is not None
            self.shelf = BackboneShelf(self.backbone)
        return self.shelf.get(requested)

    def describe(self) -> dict[str, Any]:
        """What this endpoint offers (TorchServe's describe call with customized=true)."""
        limits = {"max_image_bytes": self.config.max_image_bytes, "max_image_pixels": self.config.max_image_pixels,
                  "max_image_side": self.config.max_image_side}
        out: dict[str, Any] = {"endpoint": self.task}
        if self.backbone is not None:
            import torch

            from .shelf import BackboneShelf

            out.update({"backbone": self.backbone.name, "device": str(self.backbone.device),
                        "torch_threads": torch.get_num_threads(), "layers": list(self.backbone.layers),
                        "default_layer": self.backbone.default_layer, "layer_defaults": self.backbone.layer_defaults,
                        "num_classes": len(self.backbone.labels),
                        "backbones": (self.shelf or BackboneShelf(self.backbone)).describe()})
        return {**out, "limits": limits, "fields": self.spec.as_json()["fields"]}


class BatchedHandler(ConvLensHandler):
    """Dynamic batching: TorchServe hands a worker up to `batchSize` queued requests (model YAML), and requests
    that share a key run as ONE engine call. A request's answer never depends on its batch: bad requests get
    their own errors, requests that cannot share a pass (prepare returns None) run alone, and a group whose
    batched call fails is retried one request at a time so each gets its own answer."""

    def prepare(self, fields: dict[str, Any], explain: bool) -> Prepared | None:
        """Parse and decode one request; None runs it alone through `run_alone`."""
        raise NotImplementedError

    def run_batch(self, items: list[Any]) -> list[tuple[bytes, str]]:
        """One engine call for prepared items that share a key -> (body, content type) per item."""
        raise NotImplementedError

    def run_alone(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        raise NotImplementedError(f"{self.task}: every request is batchable")

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        prepared = self.prepare(fields, explain)
        if prepared is None:
            return self.run_alone(fields, explain)
        return self.run_batch([prepared.item])[0]

    def handle(self, data: list[Mapping[str, Any]], context: Any) -> list[bytes]:
        if len(data) == 1 or str(context.get_request_header(0, "describe")) == "True":
            return super().handle(data, context)
        answers: list[bytes | None] = [None] * len(data)
        groups: dict[Hashable, list[tuple[int, Any]]] = {}
        failed = alone = 0
        for idx, row in enumerate(data):
            try:
                prepared = self.prepare(request_fields(row), is_explain(idx, context))
            except Exception as exc:  # noqa: BLE001 - this request's own error, its neighbours go on
                answers[idx] = self.answer(idx, context, *self.fail(idx, context, self.as_error(exc), row))
                failed += 1
                continue
            if prepared is None:
                answers[idx] = self.handle_one(idx, row, context)
                alone += 1
            else:
                groups.setdefault(prepared.key, []).append((idx, prepared.item))
        logger.info("ConvLens %s: batch of %d requests: %d invalid, %d alone, %d in %d engine pass(es)", self.task,
                    len(data), failed, alone, sum(len(m) for m in groups.values()), len(groups))
        for members in groups.values():
            outputs: list[tuple[bytes, str] | None]
            try:
                outputs = list(self.run_batch([item for _, item in members]))
            except Exception:  # noqa: BLE001 - retry one by one: each request gets its own answer or error
                logger.warning("batched %s of %d failed; retrying one by one", self.task, len(members),
                               exc_info=True)
                outputs = [None] * len(members)
            for (idx, _), output in zip(members, outputs):
                answers[idx] = (self.handle_one(idx, data[idx], context) if output is None
                                else self.answer(idx, context, *output))
        return answers  # type: ignore[return-value]
