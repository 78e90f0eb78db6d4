"""TorchServe entry point of `saliency`: which pixels made the network decide (Simonyan et al. 2014 and after).

Batched: requests of a TorchServe batch with the same method, options and image size share one attribution pass.
"""
from __future__ import annotations

from typing import Any

from convlens import attribution
from convlens.attribution import faithfulness, sanity
from serving.attribution import AttributionHandler
from serving.base import Prepared
from serving.specs.attribution import MAX_PASS_PIXELS


class SaliencyHandler(AttributionHandler):
    task = "saliency"

    def prepare(self, fields: dict[str, Any], explain: bool) -> Prepared:
        return self.prepare_saliency(self.parse(fields))

    def run_batch(self, items: list[Any]) -> list[tuple[bytes, str]]:
        return self.saliency_batch(items)

    def describe(self) -> dict[str, Any]:
        options = {name: self.spec.only_with("method", name) for name in attribution.METHODS}
        return {**super().describe(), "methods": list(attribution.METHODS),
                "neuron_methods": list(attribution.NEURON_METHODS), "method_options": options,
                "max_pass_pixels": MAX_PASS_PIXELS, "evaluate": list(faithfulness.METRICS),
                "randomization_test": {m: v for m, v in sanity.randomization_verdicts().items()
                                       if m in attribution.METHODS}}
