"""TorchServe entry point of `style_transfer`: Gatys optimization with content, blended styles and TV losses."""
from __future__ import annotations

from typing import Any

import numpy as np

from serving.specs import parse
from serving.specs.style import MAX_STYLES

from convlens.core import inputs
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline
from convlens.style import transfer
from serving.base import ConvLensHandler
from serving.responses_style import encode_style_transfer


class StyleTransferHandler(ConvLensHandler):
    task = "style_transfer"
    streams_progress = True  # progress=true streams ProgressEvents (serving/progress.py), then the result

    def limit(self, key: str, default: float) -> float:
        return float(self.config.get(key, default))

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p = parse("style_transfer", fields)
        backbone = self.check_backbone(p.backbone)
        if backbone.name not in transfer.LAYERS:
            raise InvalidParameter("backbone", f"no style layers known for {backbone.name}")
        for name, value, key, default in (("steps", p.steps, "max_steps", 300), ("size", p.size, "max_size", 512)):
            if value > self.limit(key, default):
                raise InvalidParameter(name, f"must be at most {self.limit(key, default):g} on this server")
        content = inputs.to_tensor(np.array(self.decode(p.content, min_side=p.size, field="content")))[None]
        style_side = max(16, round(p.size * p.style_scale))
        styles = [inputs.to_tensor(np.array(self.decode(data, min_side=style_side,
                                                          field="style" if i == 0 else f"style_{i + 1}")))[None]
                  for i, data in enumerate(p.styles)]
        settings = transfer.TransferSettings(
            content_weight=p.content_weight, style_weight=p.style_weight, tv_weight=p.tv_weight,
            style_weights=p.style_weights, style_scale=p.style_scale, preserve_colors=p.preserve_colors,
            init=p.init, optimizer=p.optimizer, steps=p.steps, size=p.size, smoothing=p.smoothing, seed=p.seed)
        deadline = Deadline(self.limit("time_budget_s", 50.0), field="steps")
        result = transfer.style_transfer(backbone, content, styles, settings, deadline=deadline,
                                         progress=self.progress)
        weights = np.asarray(p.style_weights or [1.0] * len(styles), dtype=np.float64)
        return encode_style_transfer(result, p.format, p.quality, (weights / weights.sum()).tolist(),
                                     backbone.name)

    def describe(self) -> dict[str, Any]:
        assert self.backbone is not None
        style_layers, content_layer = transfer.LAYERS.get(self.backbone.name, ((), ""))
        return {**super().describe(), "style_layers": list(style_layers), "content_layer": content_layer,
                "max_styles": MAX_STYLES,
                "optimizers": self.spec.choices("optimizer"), "inits": self.spec.choices("init"),
                "limits_style_transfer": {"max_steps": self.limit("max_steps", 300),
                                          "max_size": self.limit("max_size", 512),
                                          "time_budget_s": self.limit("time_budget_s", 50.0)}}
