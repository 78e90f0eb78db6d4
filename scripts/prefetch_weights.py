#!/usr/bin/env python
"""Download torchvision's default ImageNet weights for some architectures into torchvision's cache.

Used only by the Docker build (`--build-arg PREFETCH_VGG=true`): the one place ConvLens downloads anything. The
files land where the backbone registry looks for them at run time (`$TORCH_HOME/hub/checkpoints`), checked here
by loading each one the way the server will (`torch.load(weights_only=True)` into the architecture).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "handlers"))
from convlens.core import backbones


def prefetch(arch: str) -> Path:
    """Fetch `arch`'s default weights (torchvision verifies the file's hash prefix) and check they load offline."""
    import torch
    from torchvision.models import get_model, get_model_weights

    get_model_weights(arch).DEFAULT.get_state_dict(progress=False, check_hash=True, weights_only=True)
    path = backbones.cached_weights_path(arch)
    if not path.is_file():
        raise SystemExit(f"error: {arch} weights did not land at {path}")
    get_model(arch, weights=None).load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("archs", nargs="+", help="torchvision architectures, e.g. vgg16 vgg19")
    for arch in parser.parse_args().archs:
        print(f"==> {arch}: {prefetch(arch)}")


if __name__ == "__main__":
    main()
