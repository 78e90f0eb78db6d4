"""TorchServe entry point of `fooling`: the smallest 8-bit change of a photo that makes the network see `target`."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import fooling
from serving.encode import encode
from serving.specs import SPECS, parse
from serving.synthesis import SynthesisHandler


class FoolingHandler(SynthesisHandler):
    task = "fooling"
    offers = {"views": SPECS["fooling"].choices("view")}

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p = parse("fooling", fields)
        backbone = self.check_backbone(p.backbone)
        target = backbone.class_index(p.target)
        result = fooling(backbone, self.photo(p.image, p.size), target, max_steps=p.max_steps,
                         confidence=p.confidence, step_size=p.step_size, max_change=p.max_change,
                         magnify=p.magnify, progress=self.progress, deadline=self.deadline("max_steps"))
        return encode(result, p.format, view=p.view)
