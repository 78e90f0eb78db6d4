"""Train the arbitrary-style stylizer (`arbitrary.py`, Ghiasi et al. 2017) on an endless procedural style supply.

    python -m tools.stylizers.train_arbitrary --out build/stylizers/arbitrary.pt --minutes 120 --threads 1
    python -m tools.stylizers.train_arbitrary --out build/stylizers/arbitrary.pt --init build/stylizers/arbitrary.pt \
        --minutes 120 --threads 1        # resume: same network flags; steps, optimizer and recipe continue

Every step pairs `--batch` content crops of the bundled photos (`train.random_crops`) with as many fresh style
images from `style_sampler.StyleSampler` (eleven pattern families with random palettes and scales, plus the photos
themselves; `--holdout` families/photos are never trained on). The style images go once through the frozen
EfficientNet-Lite0 (the loss network): their layer statistics feed the style encoder, and the same features are the
targets of the sliced Wasserstein style loss (`losses.sliced_loss_to`, Heitz et al. 2021, with the `pixels`
pseudo-layer for the palette). Everything a step draws comes from (seed, step), so a resumed run continues the
stream instead of repeating it. A checkpoint is written every `--checkpoint-minutes` (atomically) with its recipe,
optimizer state and the held-out evaluation history, and a preview PNG (content | style | output rows, held-out
styles last) beside it; SIGTERM/SIGINT save before exiting. Progress lines go to stdout.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from convlens.core import backbones
from convlens.style import losses

from . import arbitrary, nets, style_sampler, train

RECIPE = "python -m tools.stylizers.train_arbitrary"
PREVIEW_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "coins", "immunohistochemistry")


def style_batch(images: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Same-size HxWx3 float images -> (N, 3, H, W) on `device`."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)


class Losses:
    """Content, style and TV losses of a batch of (content, style) pairs, shared by training and evaluation."""

    def __init__(self, args: argparse.Namespace, device: torch.device, encoder: arbitrary.EncoderConfig) -> None:
        backbone = backbones.load_backbone(encoder.backbone, device=device)
        self.style_layers = args.style_layers.split(",")
        self.content_layer = args.content_layer
        layers = [*encoder.layers, *self.style_layers, self.content_layer]
        self.extractor = losses.FeatureExtractor(backbone, losses.network_layers(layers))
        self.features = arbitrary.StyleFeatures(encoder, self.extractor)
        self.args, self.device = args, device

    def __call__(self, model: arbitrary.ArbitraryStylizer, x: torch.Tensor, styles: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, content, style) for contents `x` each painted in the style at the same index of `styles`."""
        with torch.no_grad():
            sf = self.features.features(styles)
            stats = arbitrary.feature_statistics(sf, model.encoder.config.layers)
            fx = self.extractor(x)[self.content_layer]
        y = model(x, model.style_vector(stats))
        fy = train.features(self.extractor, y)
        c_loss = losses.content_loss(fy[self.content_layer], fx) / fx.pow(2).mean().clamp_min(1e-8)
        targets = [{n: sf[n][k:k + 1] for n in self.style_layers} for k in range(len(styles))]
        which = torch.arange(len(styles)).to(self.device)
        s_loss = losses.sliced_loss_to(targets, self.style_layers, generator)(fy, which)
        a = self.args
        total = a.content_weight * c_loss + a.style_weight * s_loss + a.tv_weight * losses.tv_loss(y)
        return total, c_loss, s_loss


def standardize(model: arbitrary.ArbitraryStylizer, crit: Losses, sampler: style_sampler.StyleSampler,
                count: int = 64) -> None:
    """Set the encoder's input centre/spread from `count` sampled styles (keys outside the training stream)."""
    stats = []
    for start in range(0, count, 16):
        images = [sampler.draw(10**12 + k)[1] for k in range(start, min(count, start + 16))]
        stats.append(crit.features.statistics(style_batch(images, crit.device)))
    s = torch.cat(stats)
    with torch.no_grad():
        model.encoder.center.copy_(s.mean(dim=0))
        spread = s.std(dim=0)
        model.encoder.spread.copy_(spread + 0.1 * spread.mean())


def evaluate(model: arbitrary.ArbitraryStylizer, crit: Losses, sampler: style_sampler.StyleSampler,
             photos: list[np.ndarray], args: argparse.Namespace) -> tuple[float, float, float]:
    """Losses on fixed crops painted in fixed held-out styles, with fixed directions: comparable across steps."""
    x = train.random_crops(photos, args.eval, args.crop, np.random.default_rng([args.seed, 2**31])).to(crit.device)
    styles = style_batch([img for _, img in sampler.eval_styles(args.eval)], crit.device)
    model.eval()
    with torch.no_grad():
        total, c, s = crit(model, x, styles, torch.Generator().manual_seed(12345))
    model.train()
    return float(total), float(c), float(s)


def write_preview(model: arbitrary.ArbitraryStylizer, crit: Losses, sampler: style_sampler.StyleSampler,
                  photos: dict[str, np.ndarray], path: Path) -> None:
    """Rows content | style | output: three training-family styles, then the held-out ones."""
    seen = [sampler.draw(2**40 + k)[1] for k in range(3)]
    held = [img for _, img in sampler.eval_styles(max(1, len(sampler.holdout)))] if sampler.holdout else []
    styles = [*seen, *held]
    names = [n for n in PREVIEW_PHOTOS if n in photos] or list(photos)
    contents = [photos[names[k % len(names)]] for k in range(len(styles))]
    model.eval()
    arbitrary.preview(model, crit.features, contents, styles, path, side=128)
    model.train()


def train_arbitrary(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    device = torch.device(args.device) if args.device else backbones.pick_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    net = nets.NetConfig(width=args.width, blocks=args.blocks)
    encoder = arbitrary.EncoderConfig(hidden=args.hidden, embed=args.embed, style_size=args.style_size)
    model = arbitrary.ArbitraryStylizer(net, encoder)
    crit = Losses(args, device, encoder)
    photo_list = train.content_images(args.content)
    photos = dict(zip(train.SKIMAGE_PHOTOS, photo_list)) if args.content == "skimage" else {}
    holdout = [h for h in args.holdout.split(",") if h] if args.holdout else []
    lo, hi = (float(v) for v in args.zoom.split(","))
    sampler = style_sampler.StyleSampler(size=args.style_size, seed=args.seed, holdout=holdout, photos=photos,
                                         photo_share=args.photo_share if photos else 0.0, zoom=(lo, hi))

    earlier: dict = {"recipe": "", "steps": 0, "evals": []}
    optimizer_state = None
    if args.init:
        start, earlier = arbitrary.load(args.init)
        if start.config != model.config or start.encoder.config != model.encoder.config:
            raise SystemExit(f"--init {args.init}: network {start.config} / encoder {start.encoder.config} differ "
                             f"from this run's {model.config} / {model.encoder.config}")
        model.load_state_dict(start.state_dict())
        optimizer_state = earlier.get("optimizer")
    model.to(device).train()
    if not args.init:
        standardize(model, crit, sampler)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
        for group in opt.param_groups:
            group["lr"] = args.lr

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    evals: list = [list(e) for e in earlier.get("evals", [])]
    first = int(earlier.get("steps", 0))
    stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def checkpoint(step: int) -> None:
        if args.eval and sampler.holdout:
            evals.append([step, *evaluate(model, crit, sampler, photo_list, args)])
            print(f"eval step {step}: total {evals[-1][1]:.4f} content {evals[-1][2]:.4f} style {evals[-1][3]:.4f} "
                  f"(held-out: {', '.join(sampler.holdout)})", flush=True)
        argv = getattr(args, "argv", None) or sys.argv[1:]
        recipe = " && ".join(r for r in (earlier.get("recipe", ""), f"{RECIPE} {' '.join(argv)}") if r)
        arbitrary.save(model, out, {"steps": step, "recipe": recipe, "evals": evals, "holdout": holdout,
                                    "optimizer": opt.state_dict(),
                                    "args": json.dumps({k: v for k, v in vars(args).items()})})
        if args.preview:
            write_preview(model, crit, sampler, photos or {str(i): a for i, a in enumerate(photo_list)},
                          out.with_suffix(".preview.png"))

    started = last_save = last_log = time.monotonic()
    window: list[tuple[float, float, float]] = []
    step = first
    print(f"training {out} from step {first}: network {model.config}, encoder {model.encoder.config}, "
          f"{sum(p.numel() for p in model.parameters())} trainable parameters, families "
          f"{', '.join(sampler.families)}; held out {', '.join(holdout) or 'nothing'}", flush=True)
    try:
        while (not args.steps or step < first + args.steps) and stop["signal"] is None:
            if args.minutes and time.monotonic() - started > args.minutes * 60:
                print(f"time budget of {args.minutes} min reached at step {step}", flush=True)
                break
            step += 1
            rng = np.random.default_rng([args.seed, step])
            x = train.random_crops(photo_list, args.batch, args.crop, rng).to(device)
            styles = style_batch([img for _, img in sampler.batch(step, args.batch)], device)
            total, c_loss, s_loss = crit(model, x, styles, torch.Generator().manual_seed(args.seed * 1_000_003 + step))
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            window.append((total.item(), c_loss.item(), s_loss.item()))
            if step % args.log_every == 0:
                now = time.monotonic()
                t, c, s = (float(np.mean(v)) for v in zip(*window))
                print(f"step {step} | {(now - started) / 60:.1f} min | loss {t:.4f} content {c:.4f} style {s:.4f} "
                      f"| {len(window) / max(now - last_log, 1e-9):.2f} step/s", flush=True)
                window, last_log = [], now
            if (args.checkpoint_every and step % args.checkpoint_every == 0) or \
                    time.monotonic() - last_save > args.checkpoint_minutes * 60:
                checkpoint(step)
                last_save = time.monotonic()
        if stop["signal"] is not None:
            print(f"signal {stop['signal']}: saving at step {step}", flush=True)
        checkpoint(step)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"saved {out} ({step} steps, {step - first} this run, {time.monotonic() - started:.0f} s)", flush=True)
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=RECIPE, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="checkpoint path (.pt); the preview PNG goes beside it")
    p.add_argument("--init", help="resume/fine-tune from this checkpoint (same network flags)")
    p.add_argument("--content", default="skimage", help="folder of photos, or 'skimage' (default)")
    p.add_argument("--width", type=int, default=nets.SMALL.width)
    p.add_argument("--blocks", type=int, default=nets.SMALL.blocks)
    p.add_argument("--embed", type=int, default=100, help="style embedding size")
    p.add_argument("--hidden", type=int, default=256, help="hidden width of the style encoder's MLP")
    p.add_argument("--style-layers", default="pixels,stem,block2,block5,block8")
    p.add_argument("--content-layer", default="block5")
    p.add_argument("--holdout", default=",".join(style_sampler.DEFAULT_HOLDOUT),
                   help=f"families ({', '.join(style_sampler.FAMILIES)}) and photos kept for evaluation")
    p.add_argument("--photo-share", type=float, default=0.2, help="share of styles that are bundled photos")
    p.add_argument("--zoom", default="0.6,1.8", help="range of pattern drawing scale (log-uniform)")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--style-size", type=int, default=128, help="style images' side, training and encoding")
    p.add_argument("--batch", type=int, default=4, help="(content, style) pairs per step")
    p.add_argument("--steps", type=int, default=0, help="steps in this run (0: until --minutes)")
    p.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0: no limit)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=10.0, help="gradient norm clip")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=12.0)
    p.add_argument("--tv-weight", type=float, default=1.0)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps (0: by time only)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval", type=int, default=4, help="held-out pairs evaluated at each checkpoint (0: none)")
    p.add_argument("--no-preview", dest="preview", action="store_false", help="no preview PNG at checkpoints")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> Path:
    args = parser().parse_args(argv)
    if not args.steps and not args.minutes:
        raise SystemExit("give --steps or --minutes")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return train_arbitrary(args)


if __name__ == "__main__":
    main()
