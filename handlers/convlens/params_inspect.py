"""Typed parameters of the inspect endpoints: filters, activations, top_patches, embed, neighbors, tsne.

Several images per request come as numbered fields (`image`, `image_2`, `image_3`, ...; for `neighbors` the
query `image` plus `gallery`, `gallery_2`, ...) and/or a `zip` field holding images; every limit names its field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from convlens.core.archives import ArchiveLimits, read_zip
from convlens.core.errors import InvalidParameter, TooLarge
from convlens.params import Fields, flag

IMAGE_AND_DATA = ("png", "jpeg", "json", "npy", "proto")
MAX_IMAGES = 32          # images per request (numbered fields and zip members together)
MAX_SIZE = 512
NamedImage = tuple[str, bytes]



def optional_integer(fields: Fields, name: str, lo: int, hi: int) -> int | None:
    return fields.integer(name, 0, lo, hi) if fields.present(name) else None


def numbered_images(fields: Fields, base: str, limit: int = MAX_IMAGES, zip_field: str | None = "zip",
                    minimum: int = 1) -> list[NamedImage]:
    """`base`, `base_2`, `base_3`, ... (in number order), then the members of `zip_field`; 413 past `limit`."""
    pattern = re.compile(rf"^{re.escape(base)}(?:_([1-9][0-9]{{0,3}}))?$")
    numbered = []
    for key in fields.raw:
        match = pattern.match(key)
        if match and key not in ("body", "data"):
            number = int(match.group(1) or 1)
            if match.group(1) == "1":
                raise InvalidParameter(key, f"the first image is '{base}'; the next ones are '{base}_2', '{base}_3', ...")
            numbered.append((number, key))
    images: list[NamedImage] = []
    for _, key in sorted(numbered):
        if len(images) == limit:
            raise TooLarge(key, f"at most {limit} images per request")
        images.append((key, fields.image(key)))
    if zip_field and fields.present(zip_field):
        room = limit - len(images)
        if room <= 0:
            raise TooLarge(zip_field, f"at most {limit} images per request")
        data = fields.image(zip_field)  # bytes, or base64 text in JSON bodies
        images.extend((f"{zip_field}:{name}", content)
                      for name, content in read_zip(data, zip_field, ArchiveLimits(max_members=room)))
    if len(images) < minimum:
        where = f"'{base}', '{base}_2', ... or '{zip_field}'" if zip_field else f"'{base}', '{base}_2', ..."
        raise InvalidParameter(base, f"needs at least {minimum} image{'s' if minimum > 1 else ''}: send {where}")
    return images


@dataclass(frozen=True)
class FiltersParams:
    layer: str | None = None
    max_filters: int = 64
    max_channels: int = 16
    format: str = "png"
    backbone: str | None = None


@dataclass(frozen=True)
class ActivationsParams:
    image: bytes
    layer: str | None = None
    channel: int | None = None
    size: int = 224
    max_tiles: int = 256
    format: str = "png"
    backbone: str | None = None


@dataclass(frozen=True)
class TopPatchesParams:
    images: list[NamedImage]
    channel: int
    layer: str | None = None
    top: int = 9
    per_image: int | None = None
    size: int = 224
    guided: bool = False
    patch: int = 96
    batch_size: int = 8
    format: str = "png"
    backbone: str | None = None


@dataclass(frozen=True)
class EmbedParams:
    images: list[NamedImage]
    layer: str | None = None
    size: int = 224
    batch_size: int = 16
    format: str = "png"
    backbone: str | None = None


@dataclass(frozen=True)
class NeighborsParams:
    query: bytes
    gallery: list[NamedImage]
    metric: str = "cosine"
    layer: str | None = None
    top: int | None = None
    size: int = 224
    thumb: int = 80
    batch_size: int = 16
    format: str = "png"
    backbone: str | None = None


@dataclass(frozen=True)
class TsneParams:
    images: list[NamedImage]
    method: str = "tsne"
    perplexity: float = 30.0
    seed: int = 0
    iterations: int = 500
    view: str = "scatter"
    layer: str | None = None
    size: int = 224
    thumb: int = 64
    canvas: int = 640
    batch_size: int = 16
    format: str = "png"
    backbone: str | None = None


def _format(fields: Fields) -> str:
    return fields.choice("format", "png", IMAGE_AND_DATA)


def parse_filters(fields: Fields) -> FiltersParams:
    return FiltersParams(layer=fields.text("layer"), max_filters=fields.integer("max_filters", 64, 1, 512),
                         max_channels=fields.integer("max_channels", 16, 1, 64), format=_format(fields),
                         backbone=fields.text("backbone"))


def parse_activations(fields: Fields) -> ActivationsParams:
    return ActivationsParams(image=fields.image("image", aliases=("body", "data")), layer=fields.text("layer"),
                             channel=optional_integer(fields, "channel", 0, 65535),
                             size=fields.integer("size", 224, 32, MAX_SIZE),
                             max_tiles=fields.integer("max_tiles", 256, 1, 4096), format=_format(fields),
                             backbone=fields.text("backbone"))


def parse_top_patches(fields: Fields) -> TopPatchesParams:
    images = numbered_images(fields, "image")
    if not fields.present("channel"):
        raise InvalidParameter("channel", "is required: the channel of `layer` whose strongest patches to find")
    return TopPatchesParams(
        images=images, channel=fields.integer("channel", 0, 0, 65535),
        layer=fields.text("layer"), top=fields.integer("top", 9, 1, 64),
        per_image=optional_integer(fields, "per_image", 1, 64), size=fields.integer("size", 224, 32, MAX_SIZE),
        guided=flag(fields, "guided"), patch=fields.integer("patch", 96, 16, 256),
        batch_size=fields.integer("batch_size", 8, 1, 64), format=_format(fields), backbone=fields.text("backbone"))


def parse_embed(fields: Fields) -> EmbedParams:
    return EmbedParams(images=numbered_images(fields, "image"), layer=fields.text("layer"),
                       size=fields.integer("size", 224, 32, MAX_SIZE),
                       batch_size=fields.integer("batch_size", 16, 1, 64), format=_format(fields),
                       backbone=fields.text("backbone"))


def parse_neighbors(fields: Fields) -> NeighborsParams:
    return NeighborsParams(
        query=fields.image("image"), gallery=numbered_images(fields, "gallery"),
        metric=fields.choice("metric", "cosine", ("cosine", "l2")), layer=fields.text("layer"),
        top=optional_integer(fields, "top", 1, MAX_IMAGES), size=fields.integer("size", 224, 32, MAX_SIZE),
        thumb=fields.integer("thumb", 80, 16, 256), batch_size=fields.integer("batch_size", 16, 1, 64),
        format=_format(fields), backbone=fields.text("backbone"))


def parse_tsne(fields: Fields) -> TsneParams:
    method = fields.choice("method", "tsne", ("tsne", "pca"))
    return TsneParams(
        images=numbered_images(fields, "image", minimum=3 if method == "tsne" else 2), method=method,
        perplexity=fields.number("perplexity", 30.0, 1.0, 100.0), seed=fields.integer("seed", 0, 0, 2**31 - 1),
        iterations=fields.integer("iterations", 500, 250, 2000),
        view=fields.choice("view", "scatter", ("scatter", "grid")), layer=fields.text("layer"),
        size=fields.integer("size", 224, 32, MAX_SIZE), thumb=fields.integer("thumb", 64, 16, 256),
        canvas=fields.integer("canvas", 640, 128, 2048), batch_size=fields.integer("batch_size", 16, 1, 64),
        format=_format(fields), backbone=fields.text("backbone"))


PARSERS = {"filters": parse_filters, "activations": parse_activations, "top_patches": parse_top_patches,
           "embed": parse_embed, "neighbors": parse_neighbors, "tsne": parse_tsne}
