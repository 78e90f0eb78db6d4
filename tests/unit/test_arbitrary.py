"""Arbitrary-style stylizer (issue 19, training half): the procedural style sampler and recolourable patterns."""
from __future__ import annotations

import numpy as np
from tools.stylizers import patterns, style_sampler


def test_patterns_recolour_and_keep_their_defaults():
    for name in patterns.PATTERNS:
        default = patterns.make(name, 64, seed=3)
        assert np.array_equal(default, patterns.make(name, 64, seed=3, palette=patterns.PALETTES[name]))
        recoloured = patterns.make(name, 64, seed=3, palette=[(255, 0, 0), (0, 255, 0), (0, 0, 255)] * 2)
        assert not np.array_equal(default, recoloured)


def test_sampler_is_deterministic_covers_families_and_keeps_the_holdout_out():
    photos = {"brick": np.full((80, 90, 3), 0.5, np.float32), "grass": np.random.default_rng(0).random((80, 90, 3))}
    kw = dict(size=48, holdout=("cubist", "plaid", "brick"), photos=photos, photo_share=0.2)
    a, b = style_sampler.StyleSampler(seed=1, **kw), style_sampler.StyleSampler(seed=1, **kw)
    draws = [a.draw(k) for k in range(40)]
    assert all(n == m and np.array_equal(x, y) for (n, x), (m, y) in zip(draws, [b.draw(k) for k in range(40)]))
    assert all(x.shape == (48, 48, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 for _, x in draws)
    families = {n.split(":")[0] for n, _ in draws}
    assert len(families - {"photo"}) >= 6 and not families & {"cubist", "plaid"}
    assert "photo:brick" not in {n for n, _ in draws}
    assert not np.array_equal(draws[0][1], style_sampler.StyleSampler(seed=2, **kw).draw(0)[1])
    held = {n.split(":")[0] if not n.startswith("photo") else n for n, _ in a.eval_styles(6)}
    assert held == {"cubist", "plaid", "photo:brick"}
    assert [n for n, _ in a.batch(3, 2)] == [draws[6][0], draws[7][0]]
