"""TorchServe entry point of `stylize`: trained feed-forward stylizers (single-, multi- or any style) in ONNX Runtime.

Batched: requests for the same network, blend and options whose images have one size and fit one pass run as one
ONNX Runtime call; larger (tiled) images run alone."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline
from convlens.stylize import arbitrary, runtime
from convlens.stylize.results import StylizeResult
from serving.base import BatchedHandler, Prepared
from serving.encode import encode
from serving.specs.style import StylizeParams


class StylizeHandler(BatchedHandler):
    task = "stylize"
    uses_backbone = False  # ONNX Runtime only: the worker imports neither torch nor a backbone

    @dataclass
    class Request:
        """One parsed, decoded request waiting for its network pass (nested: TorchServe wants one class per
        handler module)."""

        params: Any
        model: runtime.StylizerModel
        weights: np.ndarray | None
        pixels: np.ndarray
        started: float
        styles: list[str] | None = None  # style ids and their mix, for style images (the arbitrary network)
        mix: list[float] | None = None

    def initialize(self, context: Any) -> None:
        super().initialize(context)
        folder = self.config.stylizers
        if not os.path.isabs(folder):
            folder = os.path.join(context.system_properties.get("model_dir", "."), folder)
        threads = self.config.onnx_threads or None
        gpu_id = context.system_properties.get("gpu_id")  # None: TorchServe gave this worker no GPU
        self.library = runtime.StyleLibrary(folder, threads=threads, device_id=int(gpu_id or 0))
        self.tile = self.config.tile
        net = self.library.arbitrary()
        cache = arbitrary.VectorCache(self.config.style_cache_entries, self.config.style_cache_bytes)
        self.arbitrary = arbitrary.ArbitraryStylizer(net, cache) if net is not None else None

    def style_sources(self, p: StylizeParams) -> list[arbitrary.StyleSource]:
        """The request's styles: ids (bare) or images (hashed now, decoded under the limits only on a cache miss)."""
        if p.style_ids:
            return [arbitrary.StyleSource(i) for i in p.style_ids]
        assert p.style_images is not None
        assert self.arbitrary is not None
        side = self.arbitrary.side
        names = ["style_image", *(f"style_image_{i}" for i in range(2, len(p.style_images) + 1))]
        return [arbitrary.StyleSource(arbitrary.style_id(data), lambda data=data, name=name: np.asarray(
            self.decode(data, min_side=side, field=name).convert("RGB"))) for data, name in zip(p.style_images, names)]

    def arbitrary_style(self, p: StylizeParams, pixels: np.ndarray
                        ) -> tuple[runtime.StylizerModel, np.ndarray, list[str], list[float]]:
        """The arbitrary network with the style vector of the request's style images, their ids and mix."""
        if self.arbitrary is None:
            raise InvalidParameter("style_image", "no arbitrary-style network is installed on this server")
        sources = self.style_sources(p)
        vector, mix = self.arbitrary.mix(sources, p.style_weights, p.alpha, pixels)
        return self.arbitrary.model, vector, [s.id for s in sources], mix

    def prepare(self, fields: dict[str, Any], explain: bool) -> Prepared:
        """Decoded pixels at the output size; same network, blend, options and size may share one pass."""
        p: StylizeParams = self.parse(fields)
        started = time.perf_counter()
        side = min(p.max_size, self.config.max_output_side)
        image = self.decode(p.image, min_side=side)  # a JPEG may decode at a reduced scale, never below `side`
        if max(image.size) > side:  # never upscale; downscale so the longer side is max_size
            scale = side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 resample=3)
        pixels = np.asarray(image)
        styles = mix = None
        if p.style_images or p.style_ids:
            model, weights, styles, mix = self.arbitrary_style(p, pixels)
        else:
            model, weights = self.library.resolve(p.style, p.blend, p.variant)
        shareable = runtime.fits_one_pass(pixels.shape, self.tile)
        blend = weights.tobytes() if weights is not None else b""
        key = (model.name, blend, p.strength, p.preserve_colors, pixels.shape) if shareable else object()
        return Prepared(key, self.Request(p, model, weights, pixels, started, styles, mix))

    def run_batch(self, items: list[StylizeHandler.Request]) -> list[tuple[bytes, str]]:
        first = items[0]
        if len(items) == 1:
            deadline = Deadline(self.config.time_budget_s, field="max_size")
            outs = [runtime.stylize(first.model, first.pixels, first.weights, strength=first.params.strength,
                                    preserve_colors=first.params.preserve_colors, tile=self.tile,
                                    deadline=deadline)]
        else:
            outs = runtime.stylize_batch(first.model, [item.pixels for item in items], first.weights,
                                         first.params.strength, first.params.preserve_colors)
        return [encode(self.stylized(item, out), item.params.format, quality=item.params.quality)
                for item, out in zip(items, outs)]

    def stylized(self, item: StylizeHandler.Request, out: np.ndarray) -> StylizeResult:
        """The network's output with what made it: network, blend, seconds since the request began, tiles."""
        h, w = item.pixels.shape[:2]
        tiles = 1 if h <= self.tile and w <= self.tile else -(-h // self.tile) * -(-w // self.tile)
        if item.styles is not None and item.mix is not None:  # style images: their ids and mix, not the vector
            styles, used = item.styles, item.mix
        else:
            styles, used = item.model.styles, item.weights.tolist() if item.weights is not None else [1.0]
        return StylizeResult(out, item.model.name, styles, used, time.perf_counter() - item.started, tiles)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "styles": self.library.describe(),
                "single_styles": sorted(self.library.singles(runtime.FULL)),
                "blend_styles": blend.styles if (blend := self.library.multi(runtime.FULL)) else [],
                "variants": self.library.variants(), "default_variant": runtime.DEFAULT_VARIANT,
                "arbitrary": self.arbitrary.describe() if self.arbitrary else None,
                "providers": runtime.providers(), "tile": self.tile,
                "max_output_side": self.config.max_output_side}
