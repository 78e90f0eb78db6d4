"""Every endpoint's request spec: `SPECS`, `parse(endpoint, fields)` and `specs_as_json()` for the generated
documents (docs/openapi.json, the docs' field tables, the CLI's field table) and the tests.

The declarations live in one module per area (AREAS); importing one registers its endpoints in
`serving.spec.REGISTRY`. This package imports none of them up front: a worker imports only its own area (its
handler imports it), and SPECS loads them all on first use.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

from ..spec import REGISTRY, EndpointSpec

AREAS = ("attribution", "inspect", "style", "synthesis")


class AllSpecs(Mapping[str, EndpointSpec]):
    """The registry with every area's declarations loaded (on first use)."""

    def loaded(self) -> dict[str, EndpointSpec]:
        for area in AREAS:
            import_module(f"{__name__}.{area}")
        return REGISTRY

    def __getitem__(self, endpoint: str) -> EndpointSpec:
        return self.loaded()[endpoint]

    def __iter__(self) -> Iterator[str]:
        return iter(self.loaded())

    def __len__(self) -> int:
        return len(self.loaded())


SPECS: Mapping[str, EndpointSpec] = AllSpecs()


def parse(endpoint: str, raw: Mapping[str, Any]) -> Any:
    """Typed params of `endpoint` from its flat field map; InvalidParameter (or TooLarge) names the bad field."""
    return SPECS[endpoint].parse(raw)


def specs_as_json() -> dict[str, Any]:
    """Every endpoint with its fields (name, type, default, bounds/choices, help ...), sorted by name."""
    return {name: SPECS[name].as_json() for name in sorted(SPECS)}
