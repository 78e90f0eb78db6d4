"""TorchServe entry point of `classviz`: images that a class score or an inner channel likes most."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import Objective, classviz
from serving.encode import encode
from serving.specs.synthesis import ClassvizParams
from serving.synthesis import SynthesisHandler


class ClassvizHandler(SynthesisHandler):
    task = "classviz"

    def offers(self) -> dict[str, Any]:
        return {"params": self.spec.choices("param"),
                "regularizers": ["l2", "blur_every", "blur_sigma", "jitter", "clip_norm_pct", "clip_contrib_pct"]}

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: ClassvizParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        target = None if p.target is None else backbone.class_index(p.target)
        result = classviz(backbone, Objective(target=target, layer=p.layer, channel=p.channel), size=p.size,
                          steps=p.steps, lr=p.lr, l2=p.l2, blur_every=p.blur_every, blur_sigma=p.blur_sigma,
                          jitter=p.jitter, clip_norm_pct=p.clip_norm_pct, clip_contrib_pct=p.clip_contrib_pct,
                          param=p.param, count=p.count, seed=p.seed, batch_size=p.batch_size,
                          progress=self.progress, deadline=self.deadline())
        return encode(result, p.format)
