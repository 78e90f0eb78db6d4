"""TorchServe entry point of `classify`: the top-k classes of the requested backbone; /explanations/classify
answers a saliency map.

Batched: the requests of a TorchServe batch for one backbone are cropped to its size and share one forward pass.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from convlens.core import classify, inputs
from convlens.core.backbones import Backbone
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
        return Prepared(key=backbone.name, item=(inputs.to_tensor(pixels), p, backbone))

    def run_batch(self, items: list[tuple[torch.Tensor, ClassifyParams, Backbone]]) -> list[tuple[bytes, str]]:
        backbone = items[0][2]  # one key per backbone: its crop size and its network
        results = classify.classify(backbone, torch.stack([x for x, _, _ in items]), max(p.topk for _, p, _ in items))
        return [encode(dataclasses.replace(r, predictions=r.predictions[:p.topk]), p.format)
                for r, (_, p, _) in zip(results, items)]

    def run_alone(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        return self.saliency(parse("saliency", fields))
