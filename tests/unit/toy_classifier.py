"""A classifier trained in the test, as a user would bring one: torchvision's resnet18 with 3 classes fitted for a
few CPU seconds on synthetic pictures ("red square", "blue square", "no square" on grey noise), exported as a
state dict, as TorchScript and with its labels file. Shared by the unit and integration tests of registered
models (convlens-models)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

LABELS = ("red square", "blue square", "no square")
SIZE = 48  # training and input size (px)
SIDE = 14  # the square's side (px)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
COLOURS = {0: (220, 30, 30), 1: (30, 30, 220)}


def picture(label: int, rng: np.random.Generator, size: int = SIZE,
            at: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """(HxWx3 uint8 picture of class `label`, the square's top-left corner (y, x)): grey noise, and for the first
    two classes a coloured square somewhere (or at `at`)."""
    image = rng.integers(70, 190, size=(size, size, 1), dtype=np.int64).repeat(3, axis=2)
    image = image + rng.integers(-20, 20, size=(size, size, 3))
    y, x = at or tuple(int(v) for v in rng.integers(0, size - SIDE, size=2))
    if label in COLOURS:
        image[y:y + SIDE, x:x + SIDE] = COLOURS[label]
    return np.clip(image, 0, 255).astype(np.uint8), (y, x)


def batch(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = rng.integers(0, len(LABELS), size=n)
    pixels = np.stack([picture(int(k), rng)[0] for k in labels])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std, torch.from_numpy(labels)


CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache"  # one training per source version


def train(steps: int = 30, seed: int = 0) -> nn.Module:
    """resnet18 (3 classes, random init) after `steps` Adam steps of 16 pictures; eval mode. The weights are kept in
    build/test-cache/ under a hash of this file and the arguments, so the unit and integration tests of one
    checkout train once (a changed recipe trains again)."""
    from torchvision.models import resnet18

    key = hashlib.sha256(Path(__file__).read_bytes() + f"{steps},{seed},{torch.__version__}".encode()).hexdigest()
    cached = CACHE / f"toy-{key[:16]}.pt"
    torch.manual_seed(seed)  # before the model: its random init draws from the global generator
    model = resnet18(num_classes=len(LABELS))
    if cached.is_file():
        model.load_state_dict(torch.load(cached, weights_only=True))
        return model.eval()
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        x, y = batch(16, rng)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(cached)
    return model.eval()


def accuracy(model: nn.Module, n: int = 60, seed: int = 99) -> float:
    x, y = batch(n, np.random.default_rng(seed))
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@dataclass(frozen=True)
class Exported:
    """The files a user brings."""

    state_dict: Path
    torchscript: Path
    labels: Path


def export(model: nn.Module, folder: Path) -> Exported:
    """Write the model as a state dict and as TorchScript (scripted), and its labels, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = Exported(folder / "toy.pt", folder / "toy.ts", folder / "labels.txt")
    torch.save(model.state_dict(), files.state_dict)
    torch.jit.script(model).save(str(files.torchscript))
    files.labels.write_text("\n".join(LABELS) + "\n")
    return files
