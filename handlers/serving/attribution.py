"""What the attribution handlers share: saliency passes, batched by backbone, method, options and size.
`saliency` serves them, and `classify` answers TorchServe's /explanations route with the same map."""
from __future__ import annotations

from typing import Any, TypeVar

from convlens import attribution
from convlens.attribution import faithfulness
from convlens.attribution.results import Heatmap, OcclusionMap
from convlens.core import inputs
from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline

from .base import BatchedHandler, Prepared
from .encode import encode
from .specs.attribution import OcclusionParams, SaliencyParams

R = TypeVar("R", Heatmap, OcclusionMap)


class AttributionHandler(BatchedHandler):
    """A BatchedHandler that computes saliency maps: requests whose maps may share a pass run as one."""

    def saliency(self, p: SaliencyParams) -> tuple[bytes, str]:
        """Shared by `saliency` and `/explanations/classify`: a saliency map, encoded as the request asks."""
        return self.saliency_batch([self.prepare_saliency(p).item])[0]

    def prepare_saliency(self, p: SaliencyParams) -> Prepared:
        """Decoded pixels and target; maps that may share a pass (same method, options, size) share a key."""
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.explanation_pixels(self.decode(p.image, min_side=p.size), p.size)
        target = attribution.TOP1 if p.target is None else backbone.class_index(p.target)
        alone = not attribution.batch_independent(p.method, p.options)  # seeded noise is drawn per pass
        key = object() if alone else (backbone.name, p.method, repr(p.neuron), repr(sorted(p.options.items())),
                                      pixels.shape)
        return Prepared(key, (pixels, target, p, backbone))

    def saliency_batch(self, items: list[tuple[Any, int, SaliencyParams, Backbone]]) -> list[tuple[bytes, str]]:
        """One attribution pass over prepared requests that share a key (and so a backbone)."""
        first, backbone = items[0][2], items[0][3]
        results = attribution.saliency(backbone, [pixels for pixels, _, _, _ in items],
                                       [target for _, target, _, _ in items], method=first.method,
                                       neuron=first.neuron, options=first.options)
        return [encode(evaluated(backbone, r, p, self.config.time_budget_s), p.format, view=p.view,
                       colormap=p.colormap, sign=p.sign or "absolute")
                for r, (_, _, p, _) in zip(results, items)]


def evaluated(backbone: Backbone, result: R, p: SaliencyParams | OcclusionParams, budget_s: float) -> R:
    """The result with the deletion/insertion curves the request asks for (`evaluate`), within `budget_s`."""
    if not p.evaluate:
        return result
    deadline = Deadline(budget_s, field="evaluate_steps")
    return faithfulness.evaluate(backbone, result, p.evaluate, p.evaluate_steps, deadline=deadline,
                                 removal=p.evaluate_removal, patch=p.evaluate_patch)
