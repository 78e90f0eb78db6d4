"""Requests of the inspect endpoints: filters, activations, top_patches, embed, neighbors, tsne.

Several images per request come as numbered fields (`image`, `image_2`, `image_3`, ...; for `neighbors` the query
`image` plus `gallery`, `gallery_2`, ...) and/or a `zip` field holding images; every limit names its field.
"""
from __future__ import annotations

import re

from convlens.core.archives import ArchiveLimits, read_zip
from convlens.core.errors import InvalidParameter, TooLarge

from ..fields import Fields
from ..spec import IMAGE, Choice, Field, Flag, Float, Int, Kind, Ref, Text, Values, declare, endpoint
from .common import BACKBONE, BATCH_SIZE, FORMAT, PHOTO, SEED, SIZE

MAX_IMAGES = 32  # images per request (numbered fields and zip members together)
ZIP = "zip"
NamedImage = tuple[str, bytes]


def read_numbered(fields: Fields, f: Field, values: Values) -> list[NamedImage]:
    """`base`, `base_2`, `base_3`, ... (in number order), then the members of `zip`; 413 past `hi` images."""
    base, limit, minimum = f.name, f.bound("hi", values), f.bound("lo", values)
    pattern = re.compile(rf"^{re.escape(base)}(?:_([1-9][0-9]{{0,3}}))?$")
    numbered = []
    for key in fields.raw:
        match = pattern.match(key)
        if match and key not in ("body", "data"):
            if match.group(1) == "1":
                raise InvalidParameter(key, f"the first image is '{base}'; the next ones are '{base}_2', "
                                            f"'{base}_3', ...")
            numbered.append((int(match.group(1) or 1), key))
    images: list[NamedImage] = []
    for _, key in sorted(numbered):
        if len(images) == limit:
            raise TooLarge(key, f"at most {limit} images per request")
        images.append((key, fields.image(key)))
    if fields.present(ZIP):
        room = limit - len(images)
        if room <= 0:
            raise TooLarge(ZIP, f"at most {limit} images per request")
        data = fields.image(ZIP)  # bytes, or base64 text in JSON bodies
        images.extend((f"{ZIP}:{name}", content)
                      for name, content in read_zip(data, ZIP, ArchiveLimits(max_members=room)))
    if len(images) < minimum:
        raise InvalidParameter(base, f"needs at least {minimum} image{'s' if minimum > 1 else ''}: send "
                                     f"'{base}', '{base}_2', ... or '{ZIP}'")
    return images


NUMBERED = Kind("images", read_numbered, IMAGE.schema, form=IMAGE.form, info={"numbered": True, "zip": ZIP},
                bounds=("min_images", "max_images"))


def Images(help: str, name: str = "image", lo: int | Ref = 1) -> list[NamedImage]:
    """Several images: `name`, `name_2`, ... and/or a zip of images, at most MAX_IMAGES in all."""
    return declare(NUMBERED, None, help, name=name, lo=lo, hi=MAX_IMAGES, required=True)


SQUARE = Int(224, 32, 512, "side of the centre square of each image fed to the network, in px")
FEATURES = Text("a named layer, global-average-pooled (default: the penultimate layer, the classifier's input)")


class Inspect:
    """The fields every inspect endpoint takes, after its own."""

    format: str = FORMAT
    backbone: str | None = BACKBONE


@endpoint("filters")
class FiltersParams(Inspect):
    """A convolution's weights as pictures (the first layer in colour)."""

    layer: str | None = Text("a convolution or a layer holding one (default: the first convolution)")
    max_filters: int = Int(64, 1, 512, "filters shown")
    max_channels: int = Int(16, 1, 64, "input-channel slices per filter of deeper layers (grayscale tiles)")


@endpoint("activations")
class ActivationsParams(Inspect):
    """Every channel of a layer for one image, most active first."""

    image: bytes = PHOTO
    layer: str | None = Text("the layer (default: the backbone's default layer)")
    channel: int | None = Int(None, 0, 65535, "show this one channel large")
    size: int = SIZE
    max_tiles: int = Int(256, 1, 4096, "channels shown in the grid")


@endpoint("top_patches")
class TopPatchesParams(Inspect):
    """The image patches that drive one channel hardest, with their receptive fields (Zeiler & Fergus 2014)."""

    images: list[NamedImage] = Images("the images to search")
    channel: int = Int(None, 0, 65535, "the channel of `layer` whose strongest patches to find", required=True,
                       example=3)
    layer: str | None = Text("the layer (default: a middle layer, `block6` on EfficientNet-Lite0)")
    top: int = Int(9, 1, 64, "patches shown")
    per_image: int | None = Int(None, 1, 64, "at most this many patches from one image (default: `top`)")
    size: int = SQUARE
    guided: bool = Flag("show each patch's guided-backprop picture instead of its pixels")
    patch: int = Int(96, 16, 256, "side of each tile in the picture, in px")
    batch_size: int = Int(8, 1, 64, "images per forward pass")


@endpoint("embed")
class EmbedParams(Inspect):
    """One feature vector per image."""

    images: list[NamedImage] = Images("the images to embed")
    layer: str | None = FEATURES
    size: int = SQUARE
    batch_size: int = BATCH_SIZE


@endpoint("neighbors")
class NeighborsParams(Inspect):
    """A gallery ranked by feature distance and by pixel distance to a query image."""

    query: bytes = declare(IMAGE, None, "the query image", name="image", required=True)
    gallery: list[NamedImage] = Images("the gallery images", name="gallery")
    metric: str = Choice("cosine", ("cosine", "l2"), "feature distance")
    layer: str | None = FEATURES
    top: int | None = Int(None, 1, MAX_IMAGES, "neighbours listed (default: all)")
    size: int = SQUARE
    thumb: int = Int(80, 16, 256, "thumbnail side in the picture, in px")
    batch_size: int = BATCH_SIZE


@endpoint("tsne")
class TsneParams(Inspect):
    """Images laid out by t-SNE or PCA of their features, scattered or snapped to a grid."""

    method: str = Choice("tsne", ("tsne", "pca"), "the 2-D embedding")
    images: list[NamedImage] = Images("the images to lay out (at least 3 for tsne, 2 for pca)",
                                      lo=Ref("method", {"tsne": 3, "pca": 2}))
    perplexity: float = Float(30.0, 1.0, 100.0, "t-SNE perplexity (clamped to (n-1)/3, at least 1)")
    seed: int = SEED
    iterations: int = Int(500, 250, 2000, "t-SNE iterations")
    view: str = Choice("scatter", ("scatter", "grid"), "thumbnails where they fall, or snapped to a grid")
    layer: str | None = FEATURES
    size: int = SQUARE
    thumb: int = Int(64, 16, 256, "thumbnail side in the picture, in px")
    canvas: int = Int(640, 128, 2048, "side of the picture, in px")
    batch_size: int = BATCH_SIZE
