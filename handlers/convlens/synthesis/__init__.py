"""Gradient-ascent synthesis: the network's weights stay fixed and the pixels move.

One module per technique (classviz, fooling, inversion, deepdream, texture) over shared pieces: image
parameterizations, regularizers, feature capture and the step loop with progress events and a deadline.
"""
from .classviz import Objective, classviz
from .deepdream import deepdream
from .fooling import fooling
from .inversion import inversion
from .results import SynthesisResult
from .texture import texture

__all__ = ["Objective", "SynthesisResult", "classviz", "deepdream", "fooling", "inversion", "texture"]
