"""TorchServe entry point of `saliency`: which pixels made the network decide (Simonyan et al. 2014 and after)."""
from __future__ import annotations

from typing import Any

from convlens import attribution, params, params_attribution
from serving.base import ConvLensHandler


class SaliencyHandler(ConvLensHandler):
    task = "saliency"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        return self.saliency(params.parse("saliency", fields))

    def describe(self) -> dict[str, Any]:
        options = {name: [field for field, methods in params_attribution.METHOD_OPTIONS.items() if name in methods]
                   for name in attribution.METHODS}
        return {**super().describe(), "methods": list(attribution.METHODS),
                "neuron_methods": list(attribution.NEURON_METHODS), "method_options": options,
                "max_pass_pixels": params_attribution.MAX_PASS_PIXELS}
