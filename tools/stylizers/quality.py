"""How close a distilled student paints to its teacher, and how well both paint the style (issue 20).

`python -m tools.stylizers.quality model_store/stylizers/NAME.lite.json [--write]` runs the student and its teacher
through the served path (`runtime.stylize`, fast single-tile graphs) on the gallery photos at 512 px, every style
alone for a multi-style net, and reports per style: PSNR and SSIM of the student to the teacher, the share of
near-pure saturated pixels (the blobs Gram-trained nets painted) and the palette distance to the style image, for
the student, the teacher and the photo itself, and how much of the photo each keeps (content distance on the
teachers' content layer, SSIM to the photo), so a student cannot win the style metrics by washing the photo out.
`--write` stores the summary under `quality` in the manifest; `better_style` is the issue's alternative bar.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convlens.core import backbones
from convlens.style.losses import FeatureExtractor
from convlens.style.metrics import near_pure_share, palette_distance
from convlens.stylize import runtime
from convlens.synthesis.metrics import psnr, ssim

from . import student_style, train

GALLERY = ("astronaut", "chelsea", "coffee", "rocket")  # the photos of the gallery and the style unit tests
SIDE = 512


def square(photo: np.ndarray, side: int = 192) -> np.ndarray:
    """The centred square of an HxWx3 uint8 photo, resized to `side`."""
    h, w = photo.shape[:2]
    s = min(h, w)
    crop = photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return np.array(Image.fromarray(crop).resize((side, side), Image.BILINEAR))  # writable: torch.from_numpy takes it


def gallery_photos(side: int = SIDE) -> list[np.ndarray]:
    """The gallery photos (scikit-image's), centred squares of `side` px."""
    import skimage.data

    return [square(getattr(skimage.data, name)(), side) for name in GALLERY]


class ContentDistance:
    """How far a picture's content is from its photo's: squared feature difference on the teachers' content layer
    of the loss network (EfficientNet-Lite0 `block5`), divided by the photo's mean square, as they were trained."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        backbone = backbones.load_backbone(device=self.device)
        self.layer = train.DEFAULT_LAYERS[backbone.name][1]
        self.extractor = FeatureExtractor(backbone, [self.layer])

    def __call__(self, image: np.ndarray, photo: np.ndarray) -> float:
        with torch.no_grad():
            a, b = (self.extractor(torch.from_numpy(x).to(self.device).permute(2, 0, 1)[None].float() / 255)[self.layer]
                    for x in (image, photo))
        return float((a - b).pow(2).mean() / b.pow(2).mean().clamp_min(1e-12))


def style_weights(model: runtime.StylizerModel, style: str) -> np.ndarray | None:
    """One style alone: a one-hot blend for a multi-style net, None for a single-style one."""
    return np.eye(len(model.styles), dtype=np.float32)[model.styles.index(style)] if model.multi else None


COLUMNS = ("psnr_db", "ssim", "extreme_share", "teacher_extreme_share", "palette", "teacher_palette",
           "photo_palette", "content", "teacher_content", "photo_ssim", "teacher_photo_ssim")  # means over photos


def compare(student: runtime.StylizerModel, teacher: runtime.StylizerModel, photos: list[np.ndarray]
            ) -> dict[str, dict[str, float]]:
    """Per style (means over the photos, and the worst photo's PSNR): student-to-teacher PSNR and SSIM,
    extreme-pixel shares and palette distances of student, teacher (and photo), content distance and SSIM to the
    photo of student and teacher."""
    content = ContentDistance()
    out = {}
    for style in student.styles:
        reference = student_style.reference(style)
        rows = []
        for photo in photos:
            s = runtime.stylize(student, photo, style_weights(student, style))
            t = runtime.stylize(teacher, photo, style_weights(teacher, style))
            rows.append([psnr(s, t), ssim(s, t), near_pure_share(s), near_pure_share(t), palette_distance(s, reference),
                         palette_distance(t, reference), palette_distance(photo, reference), content(s, photo),
                         content(t, photo), ssim(s, photo), ssim(t, photo)])
        a = np.array(rows)
        out[style] = {name: round(float(a[:, i].mean()), 2 if name == "psnr_db" else 5)
                      for i, name in enumerate(COLUMNS)}
        out[style]["psnr_db_worst"] = round(float(a[:, 0].min()), 2)
    return out


PSNR_BAR = 30.0  # dB to the teacher on every photo: the first way to hold the quality
CONTENT_SLACK = 1.05  # a student may lose at most 5 % more of the photo's content than its teacher


def better_style(row: dict[str, float]) -> bool:
    """The issue's alternative bar for one style of a report: a palette strictly closer to the style than the
    teacher's, no more near-pure pixels, and the photo's content kept as well as the teacher keeps it."""
    return (row["palette"] < row["teacher_palette"] and row["extreme_share"] <= row["teacher_extreme_share"]
            and row["content"] <= CONTENT_SLACK * row["teacher_content"])


def holds(row: dict[str, float]) -> bool:
    """The issue's quality bar for one style: PSNR_BAR dB to the teacher on every photo, or better style metrics."""
    return row["psnr_db_worst"] >= PSNR_BAR or better_style(row)


CHECK_SIDE = 128   # the unit test's small image: the astronaut at this side, every style
CHECK_MARGIN = 0.5  # dB below the measured worst style that the test's committed threshold sits


def check_psnr(student: runtime.StylizerModel, teacher: runtime.StylizerModel) -> dict[str, float]:
    """Student-to-teacher PSNR per style on the unit test's small image (the first gallery photo)."""
    photo = gallery_photos(CHECK_SIDE)[0]
    return {style: psnr(runtime.stylize(student, photo, style_weights(student, style)),
                        runtime.stylize(teacher, photo, style_weights(teacher, style))) for style in student.styles}


def report(manifest_path: Path, side: int = SIDE) -> dict:
    """The `quality` summary of one student manifest: per style figures on the gallery at `side`, and the unit
    test's threshold (`min_psnr_db` on the first photo at CHECK_SIDE px)."""
    library = runtime.StyleLibrary(manifest_path.parent, threads=1)
    manifest = json.loads(manifest_path.read_text())
    student, teacher = library.models[manifest["name"]], library.models[manifest["teacher"]]
    small = check_psnr(student, teacher)
    return {"photos": list(GALLERY), "side": side, "styles": compare(student, teacher, gallery_photos(side)),
            "check": {"photo": GALLERY[0], "side": CHECK_SIDE,
                      "min_psnr_db": round(min(small.values()) - CHECK_MARGIN, 1)}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.stylizers.quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifests", nargs="+", type=Path, help="student manifests (NAME.lite.json)")
    p.add_argument("--side", type=int, default=SIDE)
    p.add_argument("--write", action="store_true", help="store the summary under `quality` in each manifest")
    args = p.parse_args(argv)
    for path in args.manifests:
        quality = report(path, args.side)
        print(path.name, json.dumps(quality["styles"], indent=1))
        print(path.name, "quality holds (issue 20):", {style: holds(row) for style, row in quality["styles"].items()})
        if args.write:
            manifest = json.loads(path.read_text())
            manifest["quality"] = {**manifest.get("quality", {}), **quality}
            path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
