"""TorchServe entry point of `deepdream`: amplify what a layer sees in a photo (octaves, jitter, optional guide)."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import deepdream
from serving.encode import encode
from serving.specs.synthesis import DeepdreamParams
from serving.synthesis import SynthesisHandler, fit_longer_side


class DeepdreamHandler(SynthesisHandler):
    task = "deepdream"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: DeepdreamParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        layer = p.layer or backbone.default_for("deepdream")
        backbone.layer(layer)
        photo = fit_longer_side(self.decode(p.image, min_side=0), p.max_size)
        guide = None if p.guide is None else fit_longer_side(self.decode(p.guide, 0, "guide"), 224, "guide")
        result = deepdream(backbone, photo, layer, octaves=p.octaves, octave_scale=p.octave_scale,
                           steps=p.steps, step_size=p.step_size, jitter=p.jitter, guide=guide, seed=p.seed,
                           progress=self.progress, deadline=self.deadline())
        return encode(result, p.format)
