"""Looking-inside tools on known answers: hand-set filters, activation tiles = the layer's output, top patches on a toy
detector, nearest neighbours of a duplicate, t-SNE of two separated groups, grid snapping, zip and field limits."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from convlens.core import grids
from convlens.core.archives import ArchiveLimits, read_zip
from convlens.core.backbones import Backbone, Preprocessing
from convlens.core.errors import InvalidParameter, TooLarge
from convlens.inspect import activations, embedding, filters, patches, render
from serving.specs import parse


def toy_backbone(model: nn.Module, layers: dict[str, nn.Module]) -> Backbone:
    """A Backbone around a toy network; identity normalization so the numbers are easy to follow."""
    return Backbone(name="toy", model=model.eval(), layers=layers, labels=["a", "b"],
                    preprocessing=Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
                    default_layer=next(iter(layers)), device=torch.device("cpu"))


# --- filters ------------------------------------------------------------------------------------------------


def test_filter_grid_of_hand_set_weights():
    conv1, conv2 = nn.Conv2d(3, 2, 2), nn.Conv2d(2, 2, 1)
    with torch.no_grad():
        conv1.weight.zero_()
        conv1.weight[0, 0] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # filter 0: a red ramp
        conv1.weight[1].fill_(-0.5)  # filter 1: constant -> mid gray
        conv1.bias.fill_(100.0)      # biases are ignored
        conv2.weight.copy_(torch.tensor([[1.0, -1.0], [4.0, 2.0]]).view(2, 2, 1, 1))
    backbone = toy_backbone(nn.Sequential(conv1, nn.ReLU(), conv2), {"conv1": conv1, "conv2": conv2})
    bank = filters.filter_bank(backbone)
    assert bank.rgb and bank.module == "0" and bank.weights.shape == (2, 3, 2, 2)
    picture = render.filters_picture(bank, min_tile=4)  # factor 2: each weight is a 2x2 block
    expected_red = np.array([[0, 85], [170, 255]], np.uint8)
    top, left = grids.tile_origin(0, 2, 4, 4)
    tile0 = picture[top:top + 4:2, left:left + 4:2]
    np.testing.assert_array_equal(tile0[..., 0], expected_red)
    # green and blue are 0 where red is 0: per-filter min-max over all three channels
    np.testing.assert_array_equal(tile0[..., 1], np.zeros((2, 2), np.uint8))
    top, left = grids.tile_origin(1, 2, 4, 4)
    assert (picture[top:top + 4, left:left + 4] == 128).all()

    deeper = filters.filter_bank(backbone, "conv2")
    assert not deeper.rgb and deeper.weights.shape == (2, 2, 1, 1)
    tiles, cols = render.filter_tiles(deeper)
    assert cols == 2 and [int(t[0, 0]) for t in tiles] == [255, 0, 255, 0]  # each filter on its own range


def test_filters_of_a_torchvision_arch_and_of_efficientnet_blocks(lite0):
    from torchvision.models import alexnet

    net = alexnet(weights=None)  # random weights: nothing downloaded
    backbone = toy_backbone(net, {"features.0": net.features[0], "features.3": net.features[3]})
    bank = filters.filter_bank(backbone, max_filters=64)
    assert bank.rgb and bank.weights.shape == (64, 3, 11, 11)
    picture = render.filters_picture(bank)
    assert picture.shape == (8 * 33 + 9 * 2, 8 * 33 + 9 * 2, 3)  # 8x8 tiles of 11 px x3, 2 px apart
    tiles, _ = render.filter_tiles(bank)
    np.testing.assert_array_equal(tiles[5], filters.scale_filters(bank.weights)[5].transpose(1, 2, 0))
    assert tiles[5].min() == 0 and tiles[5].max() == 255
    deep = filters.filter_bank(backbone, "features.3", max_filters=4, max_channels=5)
    assert not deep.rgb and deep.weights.shape == (4, 5, 5, 5) and deep.total_channels == 64

    first = filters.filter_bank(lite0)
    assert first.rgb and first.module == "stem.0" and first.weights.shape == (32, 3, 3, 3)
    block = filters.filter_bank(lite0, "block2", max_filters=8)  # its 3x3 depthwise conv, not the 1x1 ones
    assert block.module == "blocks.1._depthwise_conv" and block.weights.shape == (8, 1, 3, 3)
    with pytest.raises(InvalidParameter) as err:
        filters.filter_bank(lite0, "block99")
    assert err.value.field == "layer"


# --- activations --------------------------------------------------------------------------------------------


def test_activation_tiles_equal_the_layers_output():
    torch.manual_seed(0)
    conv, relu = nn.Conv2d(3, 6, 3, padding=1), nn.ReLU()
    model = nn.Sequential(conv, relu, nn.Conv2d(6, 2, 3))
    backbone = toy_backbone(model, {"relu": relu})
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    maps = activations.activations(backbone, pixels, "relu")
    with torch.no_grad():
        direct = relu(conv(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255))[0].numpy()
    np.testing.assert_allclose(maps.values, direct, rtol=1e-6, atol=1e-7)
    means = direct.reshape(6, -1).mean(axis=1)
    assert maps.order == sorted(range(6), key=lambda c: -means[c])
    for s in maps.stats:
        assert s.mean == pytest.approx(means[s.channel], rel=1e-5)
        assert s.max == pytest.approx(direct[s.channel].max(), rel=1e-5)
        assert s.fraction_active == pytest.approx((direct[s.channel] > 0).mean())
    picture = render.activations_picture(maps, min_tile=20)  # 10x12 maps enlarged 2x, 3 columns
    hi = direct.max()
    for k, channel in enumerate(maps.order):
        top, left = grids.tile_origin(k, 3, 20, 24)
        tile = picture[top:top + 20:2, left:left + 24:2, 0]
        np.testing.assert_array_equal(tile, np.rint(np.clip(direct[channel] / hi, 0, 1) * 255).astype(np.uint8))
    one = render.activations_picture(maps, channel=maps.order[0], large=40)
    assert one.shape == (40, 48, 3)


def test_the_forward_stops_at_the_layer_and_hooks_are_removed_after_errors():
    after = nn.Conv2d(4, 4, 1)
    calls = []
    after.register_forward_hook(lambda *a: calls.append(1))
    first = nn.Conv2d(3, 4, 1)
    model = nn.Sequential(first, after)
    out = activations.layer_output(model, first, torch.zeros(1, 3, 4, 4))
    assert out.shape == (1, 4, 4, 4) and calls == []  # nothing after the layer ran
    assert not first._forward_hooks

    class Boom(nn.Module):
        def forward(self, x):
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        activations.layer_output(nn.Sequential(Boom(), first), first, torch.zeros(1, 3, 4, 4))
    assert not first._forward_hooks


# --- top patches --------------------------------------------------------------------------------------------


def spot_detector() -> Backbone:
    """One channel summing brightness over 3x3 windows with stride 2: the unit over a white spot is strongest."""
    conv = nn.Conv2d(3, 2, 3, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1].fill_(1.0)
        conv.bias.zero_()
    relu = nn.ReLU()
    return toy_backbone(nn.Sequential(conv, relu, nn.Conv2d(2, 1, 1)), {"relu": relu})


def spot(y: int, x: int, value: int = 255) -> np.ndarray:
    image = np.zeros((16, 16, 3), np.uint8)
    image[y, x] = value
    return image


def test_top_patches_find_the_spots_and_crop_at_the_receptive_field():
    backbone = spot_detector()
    images = [spot(4, 10, 200), spot(9, 3, 255), np.zeros((16, 16, 3), np.uint8)]
    result = patches.top_patches(backbone, images, ["a", "b", "c"], "relu", channel=1, top=2)
    assert [p.name for p in result.patches] == ["b", "a"]  # brighter spot first
    assert result.rf_size == (3, 3) and result.rf_stride == (2, 2)
    for p, (sy, sx) in zip(result.patches, [(9, 3), (4, 10)]):
        left, top, right, bottom = p.box
        assert left <= sx <= right and top <= sy <= bottom and right - left == 2 and bottom - top == 2
        assert (p.y, p.x) in {((sy + 1) // 2, (sx + 1) // 2), (sy // 2, sx // 2)}
        np.testing.assert_array_equal(p.crop, images[p.image][top:bottom + 1, left:right + 1])
    assert result.patches[0].activation == pytest.approx(3 * 255 / 255)
    assert result.maps.shape == (3, 8, 8)
    with pytest.raises(InvalidParameter) as err:
        patches.top_patches(backbone, images, ["a", "b", "c"], "relu", channel=2)
    assert err.value.field == "channel"


def test_a_spent_time_budget_is_a_413_naming_the_field():
    from convlens.core.progress import Deadline, TimeLimitExceeded

    with pytest.raises(TimeLimitExceeded) as err:
        patches.top_patches(spot_detector(), [spot(1, 1)], ["a"], "relu", channel=1,
                            deadline=Deadline(-1.0, field="image"))
    assert err.value.code == 413 and err.value.field == "image"


def test_peak_selection_limits_per_image_and_skips_neighbours():
    maps = np.zeros((2, 5, 5), np.float32)
    maps[0, 2, 2], maps[0, 2, 3], maps[0, 0, 0], maps[1, 4, 4] = 9, 8, 7, 6
    assert patches.select_peaks(maps, 3, 3) == [(9.0, 0, 2, 2), (7.0, 0, 0, 0), (6.0, 1, 4, 4)]
    assert [p[1] for p in patches.select_peaks(maps, 3, 1)] == [0, 1]


def test_guided_backprop_batched_equals_unbatched_and_removes_its_hooks(lite0):
    rng = np.random.default_rng(1)
    x01 = torch.from_numpy(rng.random((3, 3, 48, 48), np.float32))
    module = lite0.layer("block4")
    units = [(0, 5, 1, 1), (2, 3, 2, 0), (1, 5, 0, 2), (0, 7, 2, 2)]
    one = patches.guided_gradients(lite0, x01, module, units, batch_size=1)
    many = patches.guided_gradients(lite0, x01, module, units, batch_size=3)
    torch.testing.assert_close(one, many, rtol=1e-4, atol=1e-6)
    assert one.shape == (4, 3, 48, 48) and float(one.abs().sum()) > 0
    hooked = [m for m in lite0.model.modules() if m._forward_hooks]
    assert hooked == []
    with pytest.raises(IndexError):
        patches.guided_gradients(lite0, x01, module, [(7, 0, 0, 0)])
    assert [m for m in lite0.model.modules() if m._forward_hooks] == []


# --- embed, neighbours, layouts --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0():
    from convlens.core.backbones import load_backbone

    return load_backbone("efficientnet_lite0", device=torch.device("cpu"))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    from PIL import Image
    from skimage import data

    return [np.array(Image.fromarray(im).convert("RGB").resize((64, 64))) for im in
            (data.chelsea(), data.astronaut(), data.coffee(), data.camera(), data.rocket())]


def test_embed_is_the_classifiers_input_and_batching_does_not_change_it(lite0, photos):
    vectors = embedding.features(lite0, photos, batch_size=2)
    x = activations.pixels_to_batch(lite0, np.stack(photos))
    with torch.no_grad():
        m = lite0.model
        blocks = m.stem(x)
        for block in m.blocks:
            blocks = block(blocks)
        pooled = m.pool(m.head(blocks)).flatten(1)
        logits = m.fc(pooled)
    np.testing.assert_allclose(vectors, pooled.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(vectors @ m.fc.weight.numpy().T + m.fc.bias.numpy(), logits.numpy(), rtol=1e-3,
                               atol=1e-3)
    np.testing.assert_allclose(embedding.features(lite0, photos, batch_size=5), vectors, rtol=1e-4, atol=1e-4)
    pooled_block = embedding.features(lite0, photos[:2], layer="block5")
    direct = activations.layer_output(lite0.model, lite0.layer("block5"), x[:2]).mean(dim=(2, 3))
    np.testing.assert_allclose(pooled_block, direct.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_nearest_neighbour_of_a_duplicated_image_comes_first(lite0, photos, metric):
    query, others = photos[0], photos[1:]
    gallery = [others[0], others[1], query.copy(), others[2], others[3]]
    result = embedding.neighbors(lite0, query, gallery, list("abcde"), metric=metric)
    assert result.by_feature[0].index == 2 and result.by_pixel[0].index == 2
    assert result.by_feature[0].distance == pytest.approx(0, abs=1e-5) and result.by_pixel[0].distance == 0
    assert [n.distance for n in result.by_feature] == sorted(n.distance for n in result.by_feature)
    vectors = embedding.features(lite0, [query, *gallery])
    q, g = vectors[0].astype(np.float64), vectors[1:].astype(np.float64)
    expected = 1 - g @ q / (np.linalg.norm(g, axis=1) * np.linalg.norm(q)) if metric == "cosine" else \
        np.linalg.norm(g - q, axis=1)
    np.testing.assert_allclose(result.feature_distances, expected, rtol=1e-4, atol=1e-5)
    pixel = [np.sqrt(np.mean((g.astype(float) / 255 - query / 255) ** 2)) for g in gallery]
    np.testing.assert_allclose(result.pixel_distances, pixel, rtol=1e-5)


def two_groups(n: int = 12, dims: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = np.zeros(dims)
    centre[0] = 20.0
    return np.concatenate([rng.normal(size=(n, dims)), rng.normal(size=(n, dims)) + centre])


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_layouts_keep_two_well_separated_groups_apart(method):
    vectors = two_groups()
    coords, used = embedding.layout(vectors, method, perplexity=30, seed=3, iterations=300)
    assert coords.shape == (24, 2) and coords.min() >= 0 and coords.max() <= 1
    a, b = coords[:12], coords[12:]
    between = np.linalg.norm(a[:, None] - b[None], axis=2).min()
    within = max(np.linalg.norm(a[:, None] - a[None], axis=2).max(), np.linalg.norm(b[:, None] - b[None], axis=2).max())
    assert between > 0 and within / between < 3  # every cross-group pair is far compared with group sizes
    # a line separates the groups: their projections on the centroid axis do not overlap
    axis = b.mean(0) - a.mean(0)
    assert (a @ axis).max() < (b @ axis).min()
    assert used == (pytest.approx((24 - 1) / 3) if method == "tsne" else None)


def test_perplexity_is_clamped_for_small_sets_and_tsne_is_deterministic():
    vectors = two_groups(n=2)
    assert embedding.clamp_perplexity(30, 4) == 1.0 and embedding.clamp_perplexity(5, 100) == 5
    first, used = embedding.layout(vectors, "tsne", perplexity=30, seed=1, iterations=250)
    again, _ = embedding.layout(vectors, "tsne", perplexity=30, seed=1, iterations=250)
    assert used == 1.0 and np.array_equal(first, again)


def test_grid_snapping_is_an_optimal_one_to_one_assignment():
    centres = np.array([[(c + 0.5) / 3, (r + 0.5) / 3] for r in range(3) for c in range(3)])
    order = np.random.default_rng(0).permutation(9)
    cells, grid = embedding.snap_to_grid(centres[order] + 0.01)
    assert grid == (3, 3)
    np.testing.assert_array_equal(cells[:, 0] + 3 * cells[:, 1], order)  # each point lands on its own cell
    cells, grid = embedding.snap_to_grid(np.random.default_rng(1).random((7, 2)))
    assert grid == (3, 3) and len({tuple(c) for c in cells}) == 7


# --- several images per request: numbered fields and zip files ------------------------------------------------


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_reading_skips_metadata_and_refuses_unsafe_archives():
    good = zip_bytes({"a.png": b"A", "__MACOSX/._a.png": b"x", "sub/": b"", "sub/b.png": b"B", ".hidden": b"h"})
    assert read_zip(good) == [("a.png", b"A"), ("sub/b.png", b"B")]
    for name in ("../evil.png", "/etc/passwd", "a\\..\\b.png", "C:/x.png"):
        with pytest.raises(InvalidParameter) as err:
            read_zip(zip_bytes({name: b"x"}))
        assert err.value.field == "zip" and "unsafe" in err.value.message
    with pytest.raises(TooLarge):
        read_zip(zip_bytes({f"{i}.png": b"x" for i in range(4)}), limits=ArchiveLimits(max_members=3))
    bomb = zip_bytes({"bomb.png": bytes(5_000_000)})  # 5 MB of zeros in ~5 kB
    assert len(bomb) < 20_000
    with pytest.raises(TooLarge):
        read_zip(bomb, limits=ArchiveLimits(max_member_bytes=1_000_000))
    with pytest.raises(TooLarge):
        read_zip(zip_bytes({"a": bytes(600), "b": bytes(600)}), limits=ArchiveLimits(max_total_bytes=1000))
    for bad in (b"not a zip", zip_bytes({"dir/": b""})):
        with pytest.raises(InvalidParameter):
            read_zip(bad)


def test_zip_that_lies_about_its_sizes_is_caught_by_the_real_byte_count():
    data = bytearray(zip_bytes({"a.png": bytes(4000)}, compression=zipfile.ZIP_STORED))
    # patch the declared uncompressed size (local header and central directory) to 10 bytes
    for offset in (22, data.rfind(b"PK\x01\x02") + 24):
        data[offset:offset + 4] = (10).to_bytes(4, "little")
    with pytest.raises((TooLarge, InvalidParameter)):
        read_zip(bytes(data), limits=ArchiveLimits(max_member_bytes=1000))


def test_numbered_image_fields_and_their_limits():
    raw = {"image_3": b"3", "image": b"1", "image_2": b"2", "channel": "0", "zip": zip_bytes({"z.png": b"Z"})}
    p = parse("top_patches", raw)
    assert p.images == [("image", b"1"), ("image_2", b"2"), ("image_3", b"3"), ("zip:z.png", b"Z")]
    many = {"image" if i == 1 else f"image_{i}": b"x" for i in range(1, 35)}
    with pytest.raises(TooLarge) as err:
        parse("embed", many)
    assert err.value.field == "image_33" and err.value.code == 413
    with pytest.raises(TooLarge) as err:
        parse("embed", {**{k: v for k, v in many.items() if k != "image_34" and k != "image_33"},
                        "zip": zip_bytes({"one.png": b"1"})})
    assert err.value.field == "zip"
    for bad, field in [({"image_1": b"x"}, "image_1"), ({"images": b"x", "image": b"y", "channel": "1"}, "images"),
                       ({"channel": "1"}, "image"), ({"image": b"x"}, "channel")]:
        with pytest.raises(InvalidParameter) as err:
            parse("top_patches", bad)
        assert err.value.field == field
    with pytest.raises(InvalidParameter) as err:
        parse("tsne", {"image": b"1", "image_2": b"2"})
    assert err.value.field == "image" and "at least 3" in err.value.message
    assert len(parse("tsne", {"image": b"1", "image_2": b"2", "method": "pca"}).images) == 2
    with pytest.raises(InvalidParameter) as err:
        parse("neighbors", {"image": b"q", "gallery": b"g", "image_2": b"x"})
    assert err.value.field == "image_2"
    p = parse("neighbors", {"image": b"q", "gallery_2": b"2", "gallery": b"1", "metric": "L2"})
    assert p.query == b"q" and [n for n, _ in p.gallery] == ["gallery", "gallery_2"] and p.metric == "l2"
    with pytest.raises(InvalidParameter) as err:
        parse("top_patches", {"image": b"x", "channel": "1", "guided": "maybe"})
    assert err.value.field == "guided"
