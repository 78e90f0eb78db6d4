"""Sanity checks of attribution maps: the cascading model-parameter randomization test (Adebayo et al. 2018) and
the pointing game (Zhang et al. 2016), with Spearman's rank correlation (the benchmark adds the paper's SSIM and
HOG measures: `benchmarks/map_similarity.py`).

A map that explains the MODEL must change when the model's weights are randomized, top layers first; a map that
stays the same (high similarity with the original) shows image structure such as edges instead. The verdicts
describe() reports apply `passes_randomization` (the rule `sanity_results.json` states) to the measured
similarities and their null levels.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from convlens.core.backbones import Backbone

RANDOMIZED_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
# The measured verdicts, written by `benchmarks/faithfulness.py --write-table` (declared there, read here only)
RESULTS = Path(__file__).with_name("sanity_results.json")


def above_chance(similarity: float, null_level: float) -> float:
    """A similarity's share of the headroom above its null level (the same measure between two UNRELATED maps of
    the method's shape): (s - null) / (1 - null), 0 at chance and 1 for identical maps, the chance correction of
    Cohen's kappa. A map whose grid alone makes two unrelated maps alike (occlusion's patches: HOG 0.75) is then
    judged by what it kept beyond that grid."""
    return (similarity - null_level) / (1.0 - null_level) if null_level < 1.0 else 0.0


def passes_randomization(similarity: dict[str, float], null_levels: dict[str, float], below: float) -> bool:
    """The randomization test's rule: every measure after randomization is less than `below` above chance."""
    return all(above_chance(value, null_levels[measure]) < below for measure, value in similarity.items())


@cache
def randomization_verdicts() -> dict[str, str]:
    """Per method (saliency methods and occlusion): "passes" or "fails" the cascading randomization test, from
    the committed benchmark table (describe() reports them)."""
    table = json.loads(RESULTS.read_text())
    return {method: "passes" if row["passes"] else "fails" for method, row in table["methods"].items()}


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a flat array, ties sharing their mean rank (as Spearman's coefficient needs)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (starts + (counts - 1) / 2.0)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape (0 when either is constant)."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"maps differ in shape: {np.shape(a)} vs {np.shape(b)}")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / norm) if norm > 0 else 0.0


def cascade(model: nn.Module) -> list[str]:
    """Names of the model's parametrised stages from the output down (children, a ModuleList's one by one)."""
    stages: list[str] = []
    for name, child in model.named_children():
        parts = [(f"{name}.{i}", m) for i, m in enumerate(child)] if isinstance(child, nn.ModuleList) else \
            [(name, child)]
        stages.extend(n for n, m in parts if any(True for _ in m.parameters()))
    return stages[::-1]


def _reinitialised(module: nn.Module) -> Iterator[nn.Module]:
    for sub in module.modules():
        if isinstance(sub, RANDOMIZED_TYPES):
            yield sub


def randomized(backbone: Backbone, stages: list[str], seed: int = 0) -> Backbone:
    """A copy of the backbone whose conv and linear layers in `stages` are re-initialised (PyTorch's default
    initialisation, seeded); normalisation layers keep their statistics. The original is untouched."""
    model = copy.deepcopy(backbone.model)
    names = {id(m): n for n, m in backbone.model.named_modules()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for stage in stages:
                for sub in _reinitialised(model.get_submodule(stage)):
                    sub.reset_parameters()  # type: ignore[operator]  # Conv2d and Linear both have it
    layers = {name: model.get_submodule(names[id(m)]) for name, m in backbone.layers.items()}
    return dataclasses.replace(backbone, model=model.eval(), layers=layers)


def pointing_hit(importance: np.ndarray, box: tuple[int, int, int, int], tolerance: int = 0) -> bool:
    """Whether the map's maximum lies in the (top, left, bottom, right) box grown by `tolerance` px."""
    y, x = np.unravel_index(int(np.argmax(importance)), importance.shape)
    top, left, bottom, right = box
    return bool(top - tolerance <= y < bottom + tolerance and left - tolerance <= x < right + tolerance)
