"""The client's endpoint methods, one mixin per area of the server: core (classify, saliency, explain, health,
management), attribution, inspect, synthesis and style."""

from __future__ import annotations

from .attribution import AttributionMethods
from .core import CoreMethods, EndpointMethods, Target
from .inspect import InspectMethods
from .style import StyleMethods
from .synthesis import SynthesisMethods

__all__ = ["AttributionMethods", "CoreMethods", "EndpointMethods", "InspectMethods", "StyleMethods",
           "SynthesisMethods", "Target"]
