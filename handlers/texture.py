"""TorchServe entry point of `texture`: a new texture of any size with the Gram statistics of a sample (Gatys)."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import texture
from serving.encode import encode
from serving.specs.synthesis import TextureParams
from serving.synthesis import SynthesisHandler, fit_longer_side


class TextureHandler(SynthesisHandler):
    task = "texture"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: TextureParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        for name in p.layers:
            backbone.layer(name, "layers")
        source = fit_longer_side(self.decode(p.image, min_side=0), p.source_size)
        result = texture(backbone, source, p.layers, size=(p.size, p.size), steps=p.steps, lr=p.lr, seed=p.seed,
                         progress=self.progress, deadline=self.deadline())
        return encode(result, p.format)
