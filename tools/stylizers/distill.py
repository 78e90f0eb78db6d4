"""Distil a shipped stylizer into the real-time student (`lite.py`): `python -m tools.stylizers.distill TEACHER.json`.

The teacher is the shipped ONNX graph itself (its fast graph in ONNX Runtime, one thread), so no training
checkpoint is needed. Inputs: random crops (25-100 % of the short side, flipped) of the photos the teachers were
trained on (`train.content_images`), at a random size between `--crop` and 1.5x it so the student sees several
scales; a multi-style teacher gets a random style or a random blend per image. Loss: L1 to the teacher's pixels
plus L1 between the two images' horizontal and vertical differences (the edges: lead lines, stroke borders, dots),
weighted by `--edge-weight`. Resumable: every checkpoint holds the optimizer, the step and the recipe, and
`--resume` continues from it (the crops are drawn from (seed, step), so a resumed run sees what a straight one would).
Every checkpoint also logs the PSNR to the teacher on fixed held-out crops.

Fine-tuning (`--init` a shipped student or a checkpoint, new optimizer): `--palette-weight` adds the sliced
Wasserstein distance of the student's pixels to the style image's palette and `--pure-weight` a penalty on
near-pure pixels (`student_style.py`), style terms the teacher's pixels do not carry; each checkpoint then also
logs the held-out palette distance of student and teacher.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import export, lite, student_style, train

RECIPE = "python -m tools.stylizers.distill"


class Teacher:
    """The shipped network's fast ONNX graph: (N, 3, H, W) in [0, 1] (+ blend weights) -> its output."""

    def __init__(self, manifest_path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.manifest = json.loads(manifest_path.read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        graph = manifest_path.parent / self.manifest.get("fast_file", self.manifest["file"])
        self.session = ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.styles = len(self.manifest["styles"]) if self.manifest["kind"] == "multi" else 1

    def __call__(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        feeds = {"image": x.numpy()}
        if "weights" in self.inputs:
            feeds["weights"] = weights.numpy()
        if "alpha" in self.inputs:  # a statistics graph: own statistics
            feeds["alpha"] = np.zeros((), np.float32)
            for i, c in enumerate(self.manifest["stats_channels"]):
                feeds[f"stats_{i}"] = np.zeros((len(x), c, 1, 1), np.float32)
        return torch.from_numpy(self.session.run(None, feeds)[0])


def blend_weights(styles: int, batch: int, rng: np.random.Generator) -> torch.Tensor:
    """(batch, styles): one style alone (half the images) or a random convex blend (the rest)."""
    out = np.zeros((batch, styles), np.float32)
    for k in range(batch):
        if styles == 1 or rng.random() < 0.5:
            out[k, int(rng.integers(styles))] = 1.0
        else:
            out[k] = rng.dirichlet(np.ones(styles))
    return torch.from_numpy(out)


def batch_at(photos: list[np.ndarray], args: argparse.Namespace, styles: int, step: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The crops and blend weights of one step, drawn from (seed, step) alone: a resumed run repeats them."""
    rng = np.random.default_rng([args.seed, step])
    size = 4 * int(rng.integers(args.crop // 4, args.crop * 3 // 8 + 1))
    return train.random_crops(photos, args.batch, size, rng), blend_weights(styles, args.batch, rng)


def edge_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical pixel differences of two images."""
    return (F.l1_loss(a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :])
            + F.l1_loss(a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two [0, 1] images."""
    return float(10 * torch.log10(1 / F.mse_loss(a, b).clamp_min(1e-12)))


def holdout(photos: list[np.ndarray], teacher: Teacher, args: argparse.Namespace
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed evaluation crops (another seed), their blend weights and the teacher's outputs."""
    rng = np.random.default_rng([args.seed, 2**31])  # a step no run reaches
    x = train.random_crops(photos, 8, args.crop, rng)
    w = blend_weights(teacher.styles, 8, rng)
    return x, w, teacher(x, w)


def save(path: Path, model: lite.LiteStylizer, opt: torch.optim.Optimizer, step: int, teacher: dict,
         recipe: str, history: list) -> None:
    """Checkpoint with the optimizer (to resume), the teacher's name and styles, the steps and the recipe; atomic."""
    tmp = path.with_suffix(".tmp")
    torch.save({"config": model.config.to_dict(), "state": model.state_dict(), "optimizer": opt.state_dict(),
                "steps": step, "styles": teacher["styles"], "teacher": teacher["name"], "recipe": recipe,
                "history": history}, tmp)
    os.replace(tmp, path)


def initial(path: Path) -> tuple[lite.LiteStylizer, str]:
    """A student to fine-tune and the recipe that made it: from an exported manifest (NAME.lite.json: weights read
    back from its ONNX graph) or a distillation checkpoint (.pt)."""
    if path.suffix == ".json":
        manifest = json.loads(path.read_text())
        model, recipe = export.model_from_onnx(path.parent / manifest["file"], manifest["network"]), manifest["recipe"]
    else:
        model, ckpt = lite.load(str(path))
        recipe = ckpt.get("recipe", "")
    if not isinstance(model, lite.LiteStylizer):
        raise SystemExit(f"--init {path}: not a student network")
    return model, recipe


def distill(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    teacher = Teacher(Path(args.teacher), args.threads)
    styles = list(teacher.manifest["styles"])
    config = lite.LiteConfig(width=args.width, blocks=args.blocks, styles=teacher.styles)
    model, earlier = initial(Path(args.init)) if args.init else (lite.LiteStylizer(config), "")
    if model.config != config:
        raise SystemExit(f"--init {args.init}: network {model.config} differs from {config}")
    refs = student_style.references(styles)
    if args.palette_weight and refs is None:
        raise SystemExit(f"--palette-weight: styles {styles} are not all procedural patterns (no style image)")
    palette = student_style.PaletteTerm(refs or [], args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    step, history = 0, []
    recipe = " && ".join(filter(None, [earlier, f"{RECIPE} {' '.join(args.argv)}"]))  # how the start was made, too
    if args.resume and out.exists():
        ckpt = torch.load(out, map_location="cpu", weights_only=True)
        if ckpt["config"] != model.config.to_dict() or ckpt["styles"] != styles:
            raise SystemExit(f"--resume {out}: network {ckpt['config']} / styles {ckpt['styles']} differ")
        model.load_state_dict(ckpt["state"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history, recipe = int(ckpt["steps"]), list(ckpt["history"]), ckpt["recipe"]
        print(f"resumed {out} at step {step}", file=sys.stderr)
    sched = torch.optim.lr_scheduler.LambdaLR(  # cosine to 10 % over --steps, a function of the step alone
        opt, lambda _: 0.55 + 0.45 * float(np.cos(np.pi * min(step, args.steps) / args.steps)))
    photos = train.content_images(args.content)
    hx, hw, hy = holdout(photos, teacher, args)
    teacher_palette = student_style.palette_of(hy, hw, refs)
    started = time.monotonic()
    model.train()
    while step < min(args.steps, args.until or args.steps):
        step += 1
        x, w = batch_at(photos, args, teacher.styles, step)
        target = teacher(x, w)
        y = model(x, w)
        loss = F.l1_loss(y, target) + args.edge_weight * edge_l1(y, target)
        if args.palette_weight:
            loss = loss + args.palette_weight * palette(y, w)
        if args.pure_weight:
            loss = loss + args.pure_weight * student_style.pure_penalty(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % args.checkpoint_every == 0 or step in (args.steps, args.until):
            with torch.no_grad():
                model.eval()
                hout = model(hx, hw)
                score, own_palette = psnr(hout, hy), student_style.palette_of(hout, hw, refs)
                model.train()
            history.append([step, round(float(loss.detach()), 5), round(score, 3), round(own_palette, 5)])
            save(out, model, opt, step, teacher.manifest, recipe, history)
            print(f"step {step} loss {float(loss.detach()):.4f} holdout PSNR {score:.2f} dB, palette "
                  f"{own_palette:.5f} (teacher {teacher_palette:.5f}) ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)
        if args.minutes and time.monotonic() - started > args.minutes * 60:
            save(out, model, opt, step, teacher.manifest, recipe, history)
            print(f"time budget of {args.minutes} min reached at step {step}", file=sys.stderr)
            break
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=RECIPE, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("teacher", help="the shipped network's manifest, e.g. model_store/stylizers/stained_glass.json")
    p.add_argument("--out", required=True, help="checkpoint path (.pt); with --resume, continued when it exists")
    p.add_argument("--resume", action="store_true", help="continue from --out (optimizer, step, recipe)")
    p.add_argument("--content", default="skimage", help="folder of photos, or 'skimage' (the teachers' photos)")
    p.add_argument("--width", type=int, default=lite.LiteConfig.width)
    p.add_argument("--blocks", type=int, default=lite.LiteConfig.blocks)
    p.add_argument("--crop", type=int, default=128, help="smallest crop side; crops reach 1.5x it")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--edge-weight", type=float, default=1.0)
    p.add_argument("--init", help="fine-tune this student: NAME.lite.json (its ONNX weights) or a checkpoint .pt")
    p.add_argument("--palette-weight", type=float, default=0.0,
                   help="weight of the sliced Wasserstein distance of the student's pixels to the style palette")
    p.add_argument("--pure-weight", type=float, default=0.0, help="weight of the near-pure pixel penalty")
    p.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0: no limit)")
    p.add_argument("--until", type=int, default=0, help="pause after this step (resume with the same --steps)")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    distill(args)


if __name__ == "__main__":
    main()
