"""TorchServe entry point of `style_transfer`: Gatys optimization with content, blended styles and TV losses."""
from __future__ import annotations

from typing import Any

import numpy as np

from convlens.core import inputs
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline
from convlens.style import transfer
from serving.base import ConvLensHandler
from serving.encode import encode
from serving.specs.style import MAX_STYLES, StyleTransferParams


class StyleTransferHandler(ConvLensHandler):
    task = "style_transfer"
    streams_progress = True  # progress=true streams ProgressEvents (serving/progress.py), then the result

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: StyleTransferParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        if backbone.name not in transfer.LAYERS:
            raise InvalidParameter("backbone", f"no style layers known for {backbone.name}")
        for name, value, limit in (("steps", p.steps, self.config.max_steps), ("size", p.size, self.config.max_size)):
            if value > limit:
                raise InvalidParameter(name, f"must be at most {limit:g} on this server")
        content = inputs.to_tensor(np.array(self.decode(p.content, min_side=p.size, field="content")))[None]
        style_side = max(16, round(p.size * p.style_scale))
        styles = [inputs.to_tensor(np.array(self.decode(data, min_side=style_side,
                                                          field="style" if i == 0 else f"style_{i + 1}")))[None]
                  for i, data in enumerate(p.styles)]
        settings = transfer.TransferSettings(
            content_weight=p.content_weight, style_weight=p.style_weight, style_loss=p.style_loss,
            match_palette=p.palette == "match", tv_weight=p.tv_weight,
            style_weights=p.style_weights, style_scale=p.style_scale, preserve_colors=p.preserve_colors,
            init=p.init, optimizer=p.optimizer, steps=p.steps, size=p.size, smoothing=p.smoothing, seed=p.seed)
        deadline = Deadline(self.config.time_budget_s, field="steps")
        result = transfer.style_transfer(backbone, content, styles, settings, deadline=deadline,
                                         progress=self.progress)
        return encode(result, p.format, quality=p.quality)

    def describe(self) -> dict[str, Any]:
        assert self.backbone is not None
        style_layers, content_layer = transfer.LAYERS.get(self.backbone.name, ((), ""))
        return {**super().describe(), "style_layers": list(style_layers), "content_layer": content_layer,
                "max_styles": MAX_STYLES,
                "optimizers": self.spec.choices("optimizer"), "inits": self.spec.choices("init"),
                "style_losses": self.spec.choices("style_loss"),
                "limits_style_transfer": {"max_steps": float(self.config.max_steps),  # floats, as ever
                                          "max_size": float(self.config.max_size),
                                          "time_budget_s": self.config.time_budget_s}}
