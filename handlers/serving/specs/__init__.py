"""Every endpoint's request spec: `SPECS`, `parse(endpoint, fields)` and `specs_as_json()` for the generated
documents (docs/openapi.json, the docs' field tables, the CLI's field table) and the tests, and
`example_request(endpoint, photos)` for the tests and benchmarks that need one valid request per endpoint.

The declarations live in one module per area (AREAS); importing one registers its endpoints in
`serving.spec.REGISTRY`. This package imports none of them up front: a worker imports only its own area (its
handler imports it), and SPECS loads them all on first use.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from importlib import import_module
from itertools import cycle
from typing import Any

from ..spec import REGISTRY, EndpointSpec, Ref

AREAS = ("attribution", "inspect", "style", "synthesis")
IMAGE_KINDS = ("image", "images")  # one image, or numbered images (`name`, `name_2`, ...)


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


def form_value(value: Any) -> Any:
    """Numbers and flags as a form field carries them; text and images as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def image_slots(endpoint: str, request: Mapping[str, Any] | None = None) -> list[str]:
    """The image fields a minimal request of `endpoint` fills: each required image field, a numbered one as often
    as its minimum asks (`image`, `image_2`, ...; a minimum that depends on another field, such as tsne's on
    `method`, is read from `request`, else from that field's default)."""
    spec, request = SPECS[endpoint], request or {}
    slots = []
    for f in spec.fields:
        if f.kind.name not in IMAGE_KINDS or not f.required:
            continue
        lo = f.lo
        if isinstance(lo, Ref):
            other = spec.by_attr(lo.field)
            value = request.get(other.name, other.default)
            lo = value if lo.table is None else lo.table[value]
        slots += [f.name if i == 1 else f"{f.name}_{i}" for i in range(1, int(lo or 1) + 1)]
    return slots


def example_request(endpoint: str, photos: Sequence[Any] = (), **values: Any) -> dict[str, Any]:
    """A small valid request of `endpoint` from its declaration alone: every declared `example` (each required
    field without a default has one), then `values` over them (a faster size, fewer steps, more images; None
    leaves a field out), numbers and flags as form text; then a photo, taken in turn from `photos`, in each of
    `image_slots` not given in `values` (no photos: no image fields). Every other field keeps its default."""
    spec = SPECS[endpoint]
    request = {f.name: form_value(f.kind.wire(f.example)) for f in spec.fields if f.example is not None}
    for name, value in values.items():
        if value is None:
            request.pop(name, None)
        else:
            request[name] = form_value(value)
    if photos:
        turn = cycle(photos)
        for name in image_slots(endpoint, request):
            if name not in request:
                request[name] = next(turn)
    return request
