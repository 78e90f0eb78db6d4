"""Fields that several endpoints share, declared once (each endpoint lists the ones it takes)."""
from __future__ import annotations

from ..spec import Choice, Flag, Image, Int, Target, Text

FORMATS = ("png", "jpeg", "json", "npy", "proto")  # a picture, or the numbers behind it
MAX_SEED = 2**31 - 1
STREAM = "stream"  # progress=stream: the gRPC StreamPredictions opt-in (serving/progress.py)

PHOTO = Image("the photo", aliases=("body", "data"))
TARGET = Target("the class to explain, by index or label (default: the top-1 class)")
SIZE = Int(224, 32, 512, "shorter side of the network input in px (the longer side is capped at 2x)")
VIEW = Choice("heatmap", ("heatmap", "overlay"), "the map alone, or over the photo")
FORMAT = Choice("png", FORMATS, "png/jpeg: a picture; json/npy/proto: the numbers (proto: convlens.v1.Response)")
BACKBONE = Text("the network: the served default or a registered model (describe: `backbones`)")
DEFAULT_BACKBONE = Text("the network; only the served one is accepted (describe: `backbone`)")  # style, texture
SEED = Int(0, 0, MAX_SEED, "random seed: equal requests give equal results")
PALETTE = Choice("match", ("match", "none"), "match: take the style's (sample's) exact colour distribution "
                                             "(distribution transfer, Pitié et al. 2005); none: colours from the "
                                             "losses only")
PROGRESS = Flag("stream progress events, then the result (`stream`: the gRPC StreamPredictions opt-in)",
                choices=(STREAM,))
BATCH_SIZE = Int(16, 1, 64, "images per forward pass")
