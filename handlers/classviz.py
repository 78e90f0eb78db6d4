"""TorchServe entry point of `classviz`: images that a class score, an inner channel or a neuron likes most."""
from __future__ import annotations

from typing import Any

from convlens.synthesis import Objective, classviz
from convlens.synthesis.classviz import transforms_summary
from serving.encode import encode
from serving.specs.synthesis import ClassvizParams
from serving.synthesis import SynthesisHandler


class ClassvizHandler(SynthesisHandler):
    task = "classviz"

    def offers(self) -> dict[str, Any]:
        return {"params": self.spec.choices("param"), "objectives": self.spec.choices("objective"),
                "regularizers": ["l2", "blur_every", "blur_sigma", "jitter", "clip_norm_pct", "clip_contrib_pct"],
                "transforms": transforms_summary()}

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: ClassvizParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        target = None if p.target is None else backbone.class_index(p.target)
        objective = Objective(target=target, layer=p.layer, channel=p.channel, kind=p.objective or "")
        options = dict(param=p.param, steps=p.steps, lr=p.lr, l2=p.l2, blur_every=p.blur_every,
                       blur_sigma=p.blur_sigma, jitter=p.jitter, clip_norm_pct=p.clip_norm_pct,
                       clip_contrib_pct=p.clip_contrib_pct, diversity=p.diversity)
        result = classviz(backbone, objective, size=p.size, count=p.count, seed=p.seed, batch_size=p.batch_size,
                          progress=self.progress, deadline=self.deadline(),
                          **{k: v for k, v in options.items() if v is not None})  # None: the recipe's default
        return encode(result, p.format)
