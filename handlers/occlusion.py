"""TorchServe entry point of `occlusion`: the target's probability as a patch slides over the image
(Zeiler & Fergus 2014)."""
from __future__ import annotations

from typing import Any

from convlens import attribution
from convlens.attribution import faithfulness, occlusion, sanity
from convlens.core import inputs
from convlens.core.progress import Deadline
from serving.attribution import evaluated
from serving.base import ConvLensHandler
from serving.encode import encode
from serving.specs.attribution import MAX_OCCLUSION_POSITIONS, OcclusionParams


class OcclusionHandler(ConvLensHandler):
    task = "occlusion"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: OcclusionParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        deadline = Deadline(self.config.time_budget_s, field="stride")
        pixels = inputs.explanation_pixels(self.decode(p.image, min_side=p.size), p.size)
        target = attribution.TOP1 if p.target is None else backbone.class_index(p.target)
        result = occlusion.occlusion(backbone, pixels, target, p.patch, p.stride, p.fill, p.batch_size, deadline)
        remaining_s = self.config.time_budget_s - deadline.elapsed_s  # one budget for the map and its curves
        return encode(evaluated(backbone, result, p, remaining_s), p.format, view=p.view, colormap=p.colormap)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "fills": list(occlusion.FILLS), "max_positions": MAX_OCCLUSION_POSITIONS,
                "max_seconds": self.config.time_budget_s, "evaluate": list(faithfulness.METRICS),
                "randomization_test": sanity.randomization_verdicts()["occlusion"]}
