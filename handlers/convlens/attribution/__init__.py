"""Attribution: which pixels made the network decide? Saliency methods (one class per method), occlusion and
segmentation from a saliency map; `methods` is the registry behind `saliency()`."""
from .methods import METHODS, NEURON_METHODS, TOP1, Attribution, Gradient, Neuron, batch_independent, saliency

__all__ = ["METHODS", "NEURON_METHODS", "TOP1", "Attribution", "Gradient", "Neuron", "batch_independent", "saliency"]
