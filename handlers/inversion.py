"""TorchServe entry point of `inversion`: reconstruct a photo from its features at a layer (Mahendran & Vedaldi)."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import inversion
from serving.encode import encode
from serving.specs.synthesis import InversionParams
from serving.synthesis import SynthesisHandler


class InversionHandler(SynthesisHandler):
    task = "inversion"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: InversionParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        layer = p.layer or backbone.default_for("inversion")
        backbone.layer(layer)
        result = inversion(backbone, self.photo(p.image, p.size), layer, steps=p.steps, lr=p.lr,
                           tv_weight=p.tv_weight, alpha=p.alpha, alpha_weight=p.alpha_weight, seed=p.seed,
                           progress=self.progress, deadline=self.deadline())
        return encode(result, p.format)
