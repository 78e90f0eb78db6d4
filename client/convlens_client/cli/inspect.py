"""CLI subcommands of the inspect endpoints (filters, activations, top-patches, embed, neighbors, tsne).

Each writes what the server rendered to ``-o FILE``: a picture by default, or the numbers (``--format json|npy``,
or implied by the file's extension: ``-o emb.npy``). ``neighbors`` also prints both rankings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, TextIO

from ..client import Client
from . import EXTENSIONS, Runner, write_output
from .fields import add_field

BY_EXTENSION = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".json": "json", ".npy": "npy"}


def _output_args(p: argparse.ArgumentParser, endpoint: str, default: str = "png") -> None:
    """``-o``, ``--format`` (default: from -o's extension, else ``default``) and ``--backbone``."""
    p.add_argument("-o", "--output", help="output file (default: COMMAND.EXT here)")
    add_field(p, endpoint, "format", only=tuple(EXTENSIONS), default_text=f"from -o's extension, else {default}")
    add_field(p, endpoint, "backbone")
    p.set_defaults(default_format=default)


def _layer(p: argparse.ArgumentParser, endpoint: str) -> None:
    """``--layer`` and ``--size``."""
    add_field(p, endpoint, "layer")
    add_field(p, endpoint, "size")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser("filters", help="a convolution's filters as a picture (first layer in colour)")
    for name in ("layer", "max_filters", "max_channels"):
        add_field(p, "filters", name)
    _output_args(p, "filters")

    p = sub.add_parser("activations", help="every channel of a layer for one image, most active first")
    p.add_argument("image")
    _layer(p, "activations")
    add_field(p, "activations", "channel")
    add_field(p, "activations", "max_tiles")
    _output_args(p, "activations")

    p = sub.add_parser("top-patches", help="the image patches that activate one channel most")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--zip", help="a zip file of images (in addition to or instead of IMAGES)")
    _layer(p, "top_patches")
    for name in ("channel", "top", "guided"):  # channel: required
        add_field(p, "top_patches", name)
    _output_args(p, "top_patches")

    p = sub.add_parser("embed", help="feature vectors of images (penultimate layer, or a pooled --layer)")
    p.add_argument("images", nargs="*")
    p.add_argument("--zip")
    _layer(p, "embed")
    _output_args(p, "embed", default="npy")

    p = sub.add_parser("neighbors", help="rank a gallery by feature distance and by pixel distance to a query")
    p.add_argument("query", help="query image")
    p.add_argument("gallery", nargs="*", help="gallery images")
    p.add_argument("--zip", help="a zip file of gallery images")
    add_field(p, "neighbors", "metric")
    _layer(p, "neighbors")
    _output_args(p, "neighbors")

    p = sub.add_parser("tsne", help="lay images out by t-SNE or PCA of their features")
    p.add_argument("images", nargs="*")
    p.add_argument("--zip")
    for name in ("method", "view", "perplexity", "seed"):
        add_field(p, "tsne", name)
    _layer(p, "tsne")
    _output_args(p, "tsne")

    return {name: run for name in ("filters", "activations", "top-patches", "embed", "neighbors", "tsne")}


def _format(args: argparse.Namespace) -> str:
    """``--format``, else the one -o's extension names, else the subcommand's default."""
    if args.format:
        return str(args.format)
    if args.output and Path(args.output).suffix.lower() in BY_EXTENSION:
        return BY_EXTENSION[Path(args.output).suffix.lower()]
    return str(args.default_format)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the given options name."""
    names = ("layer", "size", "channel", "max_tiles", "top", "metric", "method", "view", "perplexity", "seed",
             "max_filters", "max_channels", "backbone")
    fields = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if getattr(args, "guided", False):
        fields["guided"] = True
    return fields


def _picture(client: Client, endpoint: str, args: argparse.Namespace, fields: dict[str, Any]) -> bytes:
    """The endpoint's ``*_image()`` answer for the images the arguments name."""
    zip_ = getattr(args, "zip", None)
    if endpoint == "filters":
        return client.filters_image(**fields)
    if endpoint == "activations":
        return client.activations_image(args.image, **fields)
    if endpoint == "neighbors":
        return client.neighbors_image(args.query, list(args.gallery), zip=zip_, **fields)
    images = list(args.images or [])
    if not images and not zip_:
        raise ValueError("give image files or --zip")
    method: Callable[..., bytes] = getattr(client, f"{endpoint}_image")  # top_patches, embed, tsne
    return method(images, zip=zip_, **fields)


def run(client: Client, args: argparse.Namespace, out: TextIO) -> int | None:
    """Write what the server rendered; ``neighbors --format json`` also prints both rankings."""
    fmt = _format(args)
    endpoint = args.command.replace("-", "_")
    output = Path(args.output or f"{endpoint}.{EXTENSIONS[fmt]}")
    body = _picture(client, endpoint, args, {**_fields(args), "format": fmt})
    write_output(output, body, out)
    if endpoint == "neighbors" and fmt == "json":
        ranking = json.loads(body)
        for title, key in (("by features", "by_feature"), ("by pixels", "by_pixel")):
            out.write(f"{title}: " + ", ".join(f"{n['name']} ({n['distance']:.3f})" for n in ranking[key]) + "\n")
    return 0
