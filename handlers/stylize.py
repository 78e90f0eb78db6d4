"""TorchServe entry point of `stylize`: trained feed-forward stylizers (single- or multi-style) in ONNX Runtime."""
from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from convlens import params
from convlens.progress import Deadline
from convlens.style import runtime
from serving.base import ConvLensHandler
from serving.responses_style import encode_stylized


class StylizeHandler(ConvLensHandler):
    task = "stylize"

    def initialize(self, context: Any) -> None:
        super().initialize(context)
        folder = self.config.get("stylizers", "stylizers")
        if not os.path.isabs(folder):
            folder = os.path.join(context.system_properties.get("model_dir", "."), folder)
        threads = int(self.config.get("onnx_threads", 0)) or None
        self.library = runtime.StyleLibrary(folder, threads=threads)
        self.tile = int(self.config.get("tile", runtime.TILE))

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p = params.parse("stylize", fields)
        started = time.perf_counter()
        model, weights = self.library.resolve(p.style, p.blend)
        side = min(p.max_size, int(self.config.get("max_output_side", 4096)))
        image = self.decode(p.image, min_side=side)  # a JPEG may decode at a reduced scale, never below `side`
        if max(image.size) > side:  # never upscale; downscale so the longer side is max_size
            scale = side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 resample=3)
        pixels = np.asarray(image)
        deadline = Deadline(float(self.config.get("time_budget_s", 110.0)), field="max_size")
        out = runtime.stylize(model, pixels, weights, strength=p.strength, preserve_colors=p.preserve_colors,
                              tile=self.tile, deadline=deadline)
        h, w = pixels.shape[:2]
        tiles = 1 if h <= self.tile and w <= self.tile else -(-h // self.tile) * -(-w // self.tile)
        used = weights.tolist() if weights is not None else [1.0]
        return encode_stylized(out, p.format, p.quality, model.name, model.styles, used,
                               time.perf_counter() - started, tiles)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "styles": self.library.describe(),
                "single_styles": sorted(self.library.singles()),
                "blend_styles": self.library.multi().styles if self.library.multi() else [],
                "providers": runtime.providers(), "tile": self.tile,
                "max_output_side": int(self.config.get("max_output_side", 4096))}
