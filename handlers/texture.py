"""TorchServe entry point of `texture`: a new texture of any size with the feature statistics of a sample."""
from __future__ import annotations

from typing import Any

from convlens.style import losses
from convlens.synthesis import texture
from serving.encode import encode
from serving.specs.synthesis import TextureParams
from serving.synthesis import SynthesisHandler, fit_longer_side


class TextureHandler(SynthesisHandler):
    task = "texture"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: TextureParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        for name in losses.network_layers(p.layers):
            backbone.layer(name, "layers")
        source = fit_longer_side(self.decode(p.image, min_side=0), p.source_size)
        result = texture(backbone, source, p.layers, size=(p.size, p.size), steps=p.steps, lr=p.lr, seed=p.seed,
                         loss=p.loss, match_palette=p.palette == "match",
                         progress=self.progress, deadline=self.deadline())
        return encode(result, p.format)
