"""The TorchServe handler lifecycle shared by every ConvLens endpoint, kept thin.

initialize: load the backbone named in the model's YAML config on TorchServe's device. handle: for each request
of the batch, flatten its fields, let the endpoint parse and run them on the engine, encode the result; a bad
request gets its own 4xx status and JSON (or protobuf) error body without failing its neighbours in the batch.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, ClassVar, Mapping

import torch

from convlens import attribution, backbones, images, inputs, params
from convlens.errors import ConvLensError, InvalidParameter

from .progress import ProgressStream, close_grpc_stream, over_grpc, progress_requested, send_intermediate
from .requests import request_fields, wants_proto
from .responses import encode_error, encode_saliency, json_bytes

logger = logging.getLogger(__name__)


class ServerFault(ConvLensError):
    """An unexpected failure inside the worker (500) or an exhausted resource (507): not the caller's fault."""


class ConvLensHandler:
    """Base of the endpoint handlers: subclasses set `task` and implement `run` (and may extend `describe`)."""

    task: ClassVar[str] = ""
    streams_progress: ClassVar[bool] = False  # iterative endpoints: progress=true streams events (progress.py)

    def __init__(self) -> None:
        self.initialized = False
        self.backbone: backbones.Backbone | None = None
        self.config: dict[str, Any] = {}
        self.limits = images.DEFAULT_LIMITS
        self.progress: ProgressStream | None = None  # the current request's progress callback, when streaming
        self.send_progress = send_intermediate

    # --- lifecycle --------------------------------------------------------------------------------------------

    def initialize(self, context: Any) -> None:
        """Load the configured backbone (key `convlens` of the model YAML) on the worker's device."""
        started = time.perf_counter()
        props = context.system_properties
        self.config = dict((getattr(context, "model_yaml_config", None) or {}).get("convlens", {}))
        threads = int(self.config.get("torch_threads", 0))
        if threads > 0:
            torch.set_num_threads(threads)
        weights = self.config.get("weights")
        if weights and not os.path.isabs(weights):
            weights = os.path.join(props.get("model_dir", "."), weights)
        device = backbones.pick_device(props.get("gpu_id"))
        try:
            self.backbone = backbones.load_backbone(self.config.get("backbone", backbones.DEFAULT_BACKBONE),
                                                    weights, device)
        except Exception as exc:
            # One clear line in the model log; TorchServe then retries this model's worker, others keep serving.
            logger.error("ConvLens %s cannot load its model: %s", self.task, exc)
            raise
        self.limits = images.ImageLimits(
            max_bytes=int(self.config.get("max_image_bytes", images.DEFAULT_LIMITS.max_bytes)),
            max_pixels=int(self.config.get("max_image_pixels", images.DEFAULT_LIMITS.max_pixels)),
            max_side=int(self.config.get("max_image_side", images.DEFAULT_LIMITS.max_side)))
        self.initialized = True
        logger.info("ConvLens %s ready: backbone %s on %s in %.1fs", self.task, self.backbone.name, device,
                    time.perf_counter() - started)

    def handle(self, data: list[Mapping[str, Any]], context: Any) -> list[bytes]:
        """One response per request of the batch, each with its own status and content type."""
        if str(context.get_request_header(0, "describe")) == "True":
            return [json_bytes(self.describe())]
        return [self.handle_one(idx, row, context) for idx, row in enumerate(data)]

    def handle_one(self, idx: int, row: Mapping[str, Any], context: Any) -> bytes:
        # /explanations is decided per request (TorchServe's BaseHandler looks at request 0 for the whole batch)
        explain = str(context.get_request_header(idx, "explain")) == "True"
        self.progress = None
        try:
            if self.streams_progress and progress_requested(row, grpc=over_grpc(idx, context)):
                self.progress = ProgressStream(idx, context, wants_proto(row), self.send_progress)
                self.progress.start()
            fields = request_fields(row)
            body, content_type = self.run(fields, explain)
        except ConvLensError as error:
            body, content_type = self.fail(idx, context, error, row)
        except (MemoryError, torch.OutOfMemoryError):
            logger.exception("out of memory in %s", self.task)
            body, content_type = self.fail(idx, context, ServerFault(
                "out of memory while processing this request; try a smaller image", code=507,
                type="OutOfMemory"), row)
        except Exception:  # noqa: BLE001 - a worker must answer every request, never die on one
            logger.exception("unexpected failure in %s", self.task)
            body, content_type = self.fail(idx, context, ServerFault(
                "internal error while processing this request", code=500, type="InternalError"), row)
        context.set_response_content_type(idx, content_type)
        stream, self.progress = self.progress, None
        if stream is not None:
            return stream.finish(body)
        close_grpc_stream(idx, context)
        return body

    @staticmethod
    def fail(idx: int, context: Any, error: ConvLensError, row: Mapping[str, Any]) -> tuple[bytes, str]:
        context.set_response_status(error.code, error.type, idx)
        return encode_error(error, proto=wants_proto(row))

    # --- for subclasses ---------------------------------------------------------------------------------------

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        """Parse the fields, call the engine, return (body, content type)."""
        raise NotImplementedError

    def decode(self, data: bytes, min_side: int, field: str = "image"):
        """Decode an image field under this endpoint's limits, at no more than the resolution needed."""
        return images.decode_image(data, field=field, limits=self.limits, min_side=min_side)

    def check_backbone(self, requested: str | None) -> backbones.Backbone:
        """The served backbone; a request naming another one gets a 400 that says which are served."""
        assert self.backbone is not None
        if requested and requested != self.backbone.name:
            raise InvalidParameter("backbone", f"backbone '{requested}' is not served by this endpoint; "
                                               f"available: {self.backbone.name}")
        return self.backbone

    def saliency(self, p: params.SaliencyParams) -> tuple[bytes, str]:
        """Shared by `saliency` and `/explanations/classify`: a saliency map, encoded as the request asks."""
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.explanation_pixels(self.decode(p.image, min_side=p.size), p.size)
        target = attribution.TOP1 if p.target is None else backbone.class_index(p.target)
        result = attribution.saliency(backbone, pixels, [target], method=p.method, neuron=p.neuron,
                                      options=p.options)[0]
        return encode_saliency(result, p.format, p.view, p.colormap)

    def describe(self) -> dict[str, Any]:
        """What this endpoint offers (TorchServe's describe call with customized=true)."""
        assert self.backbone is not None
        return {
            "endpoint": self.task,
            "backbone": self.backbone.name,
            "device": str(self.backbone.device),
            "torch_threads": torch.get_num_threads(),
            "layers": list(self.backbone.layers),
            "default_layer": self.backbone.default_layer,
            "num_classes": len(self.backbone.labels),
            "limits": {"max_image_bytes": self.limits.max_bytes, "max_image_pixels": self.limits.max_pixels,
                       "max_image_side": self.limits.max_side},
        }
