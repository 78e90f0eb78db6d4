"""TorchServe entry point of `fooling`: the smallest 8-bit change of a photo that makes the network see `target`."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import fooling
from serving.encode import encode
from serving.specs.synthesis import FoolingParams
from serving.synthesis import SynthesisHandler


class FoolingHandler(SynthesisHandler):
    task = "fooling"

    def offers(self) -> dict[str, Any]:
        return {"views": self.spec.choices("view")}

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: FoolingParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        target = backbone.class_index(p.target)
        result = fooling(backbone, self.photo(p.image, p.size), target, max_steps=p.max_steps,
                         confidence=p.confidence, step_size=p.step_size, max_change=p.max_change,
                         magnify=p.magnify, progress=self.progress, deadline=self.deadline("max_steps"))
        return encode(result, p.format, view=p.view)
