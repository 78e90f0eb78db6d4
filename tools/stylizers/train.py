"""Train a feed-forward stylizer: `python -m tools.stylizers.train --style NAME_OR_IMAGE [...] --content skimage`.

One `--style` trains a single-style network; several train one multi-style network (conditional instance norm),
each step drawing one style per image. Loss network: a backbone from `convlens.core.backbones` (default
efficientnet_lite0, offline; vgg16/vgg19 when their weights are local). Content: a folder of photos or `skimage`
(the photos scikit-image ships), random crops at random scales.

Style loss: sliced Wasserstein (default; Heitz et al. 2021) on the RGB image ("pixels") and the loss network's
layers; `--style-loss gram` is the Gram-matrix loss of Johnson et al., which paints saturated blobs on small nets.
CPU recipe (defaults, minutes): small variant (width 16, 3 residual blocks), 128 px crops, batch 4, 2000 steps;
scripts/train_stylizers.sh holds the exact commands of the shipped networks.
GPU recipe on COCO (documented, not run here):
  python -m tools.stylizers.train --style starry.jpg --content /data/coco/train2014 --width 32 --blocks 5 \
      --crop 256 --batch 4 --steps 40000 --lr 1e-3 --loss-net vgg16 --style-size 256 --device cuda --minutes 600
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convlens.core import backbones
from convlens.style import losses

from . import nets, patterns

RECIPE = "python -m tools.stylizers.train"  # the command a checkpoint's recipe records (run from the repo root)

DEFAULT_LAYERS = {
    "efficientnet_lite0": (["pixels", "stem", "block2", "block5", "block8"], "block5"),
    "vgg16": (["pixels", "relu1_2", "relu2_2", "relu3_3", "relu4_3"], "relu2_2"),
    "vgg19": (["pixels", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], "relu4_2"),
}
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
                  "retina", "camera", "coins", "brick", "grass", "gravel", "moon")


def load_rgb(path: Path | str) -> np.ndarray:
    """An image file as HxWx3 float32 in [0, 1]."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def to_rgb01(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    a = a[..., :3]
    return a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)


def content_images(source: str) -> list[np.ndarray]:
    """`skimage` (scikit-image's bundled photos; a developer-only dependency) or a folder of images."""
    if source == "skimage":
        import skimage.data

        out = []
        for name in SKIMAGE_PHOTOS:
            a = getattr(skimage.data, name)()
            out.append(to_rgb01(a[0] if isinstance(a, tuple) else a))
        return out
    files = sorted(p for p in Path(source).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        raise SystemExit(f"no images under {source}")
    return [load_rgb(p) for p in files]


def style_image(spec: str, size: int, seed: int) -> tuple[str, np.ndarray]:
    """(name, HxWx3 in [0, 1]) of a procedural pattern name or an image file path."""
    if spec in patterns.PATTERNS:
        return spec, patterns.make(spec, size, seed).astype(np.float32) / 255.0
    img = Image.open(spec).convert("RGB")
    scale = size / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    return Path(spec).stem, np.asarray(img, dtype=np.float32) / 255.0


def random_crops(photos: list[np.ndarray], batch: int, crop: int, rng: np.random.Generator) -> torch.Tensor:
    """`batch` square crops at random positions and scales (25-100% of the short side), resized to `crop`."""
    out = []
    for _ in range(batch):
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.25, 1.0))
        side = max(side, 16)
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        t = torch.from_numpy(np.ascontiguousarray(photo[y:y + side, x:x + side])).permute(2, 0, 1)[None]
        t = torch.nn.functional.interpolate(t, size=(crop, crop), mode="bilinear", antialias=True,
                                            align_corners=False)
        if rng.random() < 0.5:
            t = t.flip(-1)
        out.append(t)
    return torch.cat(out).clamp(0, 1)


def pixels(image01: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image01)).permute(2, 0, 1)[None].to(device)


def train(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device) if args.device else backbones.pick_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    backbone = backbones.load_backbone(args.loss_net, args.loss_weights, device)
    style_layers, content_layer = DEFAULT_LAYERS.get(args.loss_net, (None, None))
    style_layers = args.style_layers.split(",") if args.style_layers else style_layers
    content_layer = args.content_layer or content_layer
    if not style_layers or not content_layer:
        raise SystemExit(f"give --style-layers and --content-layer for loss network {args.loss_net}")
    extractor = losses.FeatureExtractor(backbone, losses.network_layers([*style_layers, content_layer]),
                                        smoothing=args.smoothing)

    styles = [style_image(s, args.style_size, args.seed) for s in args.style]
    names = args.names.split(",") if args.names else [n for n, _ in styles]
    style_loss = STYLE_LOSSES[args.style_loss](extractor, [img for _, img in styles], style_layers, device,
                                               args.seed)
    photos = content_images(args.content)

    config = nets.NetConfig(width=args.width, blocks=args.blocks, styles=len(styles))
    model = nets.Stylizer(config).to(device).train()
    earlier = {"recipe": "", "steps": 0}
    if args.init:  # fine-tune: start from a checkpoint of the same shape and styles
        start, earlier = nets.load(args.init, map_location=device)
        if start.config != config or earlier.get("styles") != names:
            raise SystemExit(f"--init {args.init}: network {start.config} / styles {earlier.get('styles')} "
                             f"differ from this run's {config} / {names}")
        model.load_state_dict(start.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr * 0.1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bar = _progress(args.steps)
    step = 0
    for step in range(1, args.steps + 1):
        x = random_crops(photos, args.batch, args.crop, rng).to(device)
        which = torch.from_numpy(rng.integers(0, len(styles), args.batch)).to(device)
        weights = torch.nn.functional.one_hot(which, len(styles)).float()
        y = model(x, weights)
        fy = features(extractor, y)
        with torch.no_grad():
            fx = extractor(x)[content_layer]
        c_loss = losses.content_loss(fy[content_layer], fx) / fx.pow(2).mean().clamp_min(1e-8)
        s_loss = style_loss(fy, which)
        loss = args.content_weight * c_loss + args.style_weight * s_loss + args.tv_weight * losses.tv_loss(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar(step, c_loss.item(), float(s_loss.detach()))
        if step % args.checkpoint_every == 0 or step == args.steps:
            _save(model, out, names, args, step, earlier)
        if args.minutes and time.monotonic() - started > args.minutes * 60:
            print(f"\ntime budget of {args.minutes} min reached at step {step}", file=sys.stderr)
            break
    _save(model, out, names, args, step, earlier)
    print(f"\nsaved {out} ({step} steps, {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return out


PIXELS = losses.PIXELS


def features(extractor: losses.FeatureExtractor, image01: torch.Tensor) -> dict[str, torch.Tensor]:
    """The extractor's layers plus the image itself under PIXELS."""
    return losses.with_pixels(extractor(image01), image01)


def gram_style_loss(extractor: losses.FeatureExtractor, images: list[np.ndarray], layers: list[str],
                    device: torch.device, seed: int) -> losses.StyleLoss:
    """Gram-matrix MSE per layer against each image's own style, each layer divided by its targets' mean square."""
    with torch.no_grad():
        targets = []
        for img in images:
            feats = features(extractor, pixels(img, device))
            targets.append({name: losses.gram(feats[name])[0] for name in layers})
        scale = {name: float(torch.stack([t[name] for t in targets]).pow(2).mean()) for name in layers}

    def loss(feats: dict[str, torch.Tensor], which: torch.Tensor | None = None) -> torch.Tensor:
        assert which is not None
        return sum(torch.mean((losses.gram(feats[name]) - torch.stack([targets[int(i)][name] for i in which])) ** 2)
                   / scale[name] for name in layers) / len(layers)

    return loss


def sliced_style_loss(extractor: losses.FeatureExtractor, images: list[np.ndarray], layers: list[str],
                      device: torch.device, seed: int) -> losses.StyleLoss:
    """Sliced Wasserstein distance per layer on fresh random directions each step, divided by the targets' mean
    square; penalizes the saturated outlier patches that Gram matching allows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        targets = [features(extractor, pixels(img, device)) for img in images]
    return losses.sliced_loss_to(targets, layers, generator)


STYLE_LOSSES = {"gram": gram_style_loss, "sliced": sliced_style_loss}


def _save(model: nets.Stylizer, out: Path, names: list[str], args: argparse.Namespace, step: int,
          earlier: dict) -> None:
    """Checkpoint with its whole recipe: a fine-tune's command follows the commands that made its --init."""
    argv = getattr(args, "argv", None) or sys.argv[1:]
    recipe = f"{RECIPE} {' '.join(argv)}" if argv else ""
    recipe = " && ".join(r for r in (earlier.get("recipe", ""), recipe) if r)
    nets.save(model, str(out), {"styles": names, "steps": int(earlier.get("steps", 0)) + step, "recipe": recipe,
                                "args": json.dumps({k: v for k, v in vars(args).items()})})


def _progress(total: int):
    """A tqdm bar when tqdm is installed, else a plain carriage-return line."""
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="step", dynamic_ncols=True)

        def update(step: int, c: float, s: float) -> None:
            bar.update(1)
            bar.set_postfix(content=f"{c:.3f}", style=f"{s:.3f}")

        return update
    except ImportError:  # pragma: no cover
        def plain(step: int, c: float, s: float) -> None:
            print(f"\rstep {step}/{total} content {c:.3f} style {s:.3f}", end="", file=sys.stderr)

        return plain


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=RECIPE, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", action="append", required=True,
                   help=f"a pattern name ({', '.join(patterns.PATTERNS)}) or an image file; repeat for multi-style")
    p.add_argument("--names", help="comma-separated style names (default: pattern names / file stems)")
    p.add_argument("--content", default="skimage", help="folder of photos, or 'skimage' (default)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--init", help="fine-tune: start from this checkpoint (same network and styles)")
    p.add_argument("--loss-net", default=backbones.DEFAULT_BACKBONE, help="loss network backbone")
    p.add_argument("--loss-weights", help="local weights file of the loss network (torchvision archs)")
    p.add_argument("--style-layers", help=f"comma-separated layer names (default per loss network); '{PIXELS}' "
                   "adds the RGB image itself (with --style-loss sliced: match the style's palette)")
    p.add_argument("--content-layer", help="content layer name (default per loss network)")
    p.add_argument("--style-loss", choices=sorted(STYLE_LOSSES), default="sliced",
                   help="gram (Gatys/Johnson) or sliced (sliced Wasserstein, Heitz et al. 2021: no saturated blobs)")
    p.add_argument("--smoothing", action="store_true", help="softmax-smooth activations (Wang et al. 2021)")
    p.add_argument("--width", type=int, default=nets.SMALL.width)
    p.add_argument("--blocks", type=int, default=nets.SMALL.blocks)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--style-size", type=int, default=128, help="short side of the style image (pattern scale)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=12.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0: no limit)")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command recorded as the checkpoint's recipe
    train(args)


if __name__ == "__main__":
    main()
