"""TorchServe entry point of `segment`: saliency -> GrabCut foreground mask and cut-out (Simonyan et al. 2014)."""
from __future__ import annotations

from typing import Any

from convlens import attribution
from convlens.attribution import segment
from convlens.core import inputs
from serving.base import ConvLensHandler
from serving.encode import encode
from serving.specs.attribution import SegmentParams


class SegmentHandler(ConvLensHandler):
    task = "segment"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: SegmentParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.explanation_pixels(self.decode(p.image, min_side=p.size), p.size)
        target = attribution.TOP1 if p.target is None else backbone.class_index(p.target)
        result = segment.segment(backbone, pixels, target, p.method, p.foreground, p.background, p.iterations)
        return encode(result, p.format, view=p.view)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "methods": list(attribution.METHODS), "views": self.spec.choices("view")}
