"""TorchServe entry point of `classify`: top-k ImageNet classes; /explanations/classify answers a saliency map.

Batched: every request of a TorchServe batch is cropped to the same size, so the whole batch is one forward pass.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from convlens.core import classify, inputs
from serving.attribution import AttributionHandler
from serving.base import Prepared
from serving.encode import encode
from serving.spec import parse
from serving.specs.attribution import ClassifyParams


class ClassifyHandler(AttributionHandler):
    task = "classify"

    def prepare(self, fields: dict[str, Any], explain: bool) -> Prepared | None:
        if explain:  # TorchServe's /explanations route: the saliency endpoint's schema and output, run alone
            return None
        p: ClassifyParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.classification_pixels(self.decode(p.image, min_side=backbone.preprocessing.resize),
                                              backbone.preprocessing)
        return Prepared(key="crop", item=(inputs.to_tensor(pixels), p))

    def run_batch(self, items: list[tuple[torch.Tensor, ClassifyParams]]) -> list[tuple[bytes, str]]:
        assert self.backbone is not None
        results = classify.classify(self.backbone, torch.stack([x for x, _ in items]), max(p.topk for _, p in items))
        return [encode(dataclasses.replace(r, predictions=r.predictions[:p.topk]), p.format)
                for r, (_, p) in zip(results, items)]

    def run_alone(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        return self.saliency(parse("saliency", fields))
