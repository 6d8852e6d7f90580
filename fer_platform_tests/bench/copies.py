"""Copies among the real FER2013 training faces (issue 34): how ``models.copies`` sets its threshold, and the
validation leak it closes.

    python -m fer_platform_tests.bench copies [--out /tmp/copies] [--tarball ../shared/data/fer2013_train.tar.gz]

Every face's best match elsewhere in train/ (``near_copies`` with the threshold lowered to 0.6), counted per
band of correlation; a grid PNG per band (24 pairs drawn at random, labels under each pair) goes to ``--out``
for a person to judge whether the pairs are one photo. Then the validation slice by pixel hash alone (what
``faces.validation_split`` did before copy groups) against the slice with copy groups: how many validation
faces have a copy (correlation >= 0.90) among the training faces.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fer_platform.models.copies import NEAR_CORRELATION, near_copies
from fer_platform.models.faces import FaceSet, content_position, validation_split
from fer_platform_tests.bench.real_faces import TARBALL, real_faces

BANDS = [(0.6, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.93), (0.93, 0.95), (0.95, 0.97), (0.97, 0.99), (0.99, 1.01)]


def grid(faces: FaceSet, pairs: list[tuple[int, int, float]], path: Path) -> None:
    """Up to 24 pairs side by side, six a row, each captioned with its correlation and both labels."""
    cols, rows = 6, max(1, -(-len(pairs) // 6))
    image = Image.new("L", (cols * 200, rows * 110), 255)
    draw = ImageDraw.Draw(image)
    for k, (i, j, score) in enumerate(pairs):
        x, y = (k % cols) * 200, (k // cols) * 110
        for offset, index in ((0, i), (98, j)):
            image.paste(Image.fromarray(faces.pixels[index].numpy()).resize((96, 96)), (x + offset, y))
        names = "/".join(faces.classes[int(faces.labels[n])][:3] for n in (i, j))
        draw.text((x, y + 97), f"{score:.3f} {names}", fill=0)
    image.save(path)


def leaked(faces: FaceSet, validation: np.ndarray) -> int:
    """Validation faces with a confirmed copy among the other (training) faces."""
    training = np.setdiff1d(np.arange(len(faces.files)), validation)
    pixels = faces.pixels.numpy()
    return len(near_copies(pixels[validation], pixels[training]))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench copies")
    parser.add_argument("--out", type=Path, default=Path("/tmp/copies"))
    parser.add_argument("--tarball", type=Path, default=TARBALL)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        faces = real_faces(args.tarball, Path(work))
    started = time.perf_counter()
    rows = near_copies(faces.pixels.numpy(), faces.pixels.numpy(), itself=True, threshold=0.6)
    print(f"best match of each of {len(faces.files):,} faces in {time.perf_counter() - started:.0f} s")
    print("| correlation | faces whose best match is in the band | grid |\n|---|---:|---|")
    rng = np.random.default_rng(0)
    for low, high in BANDS:
        band = [row for row in rows if low <= row[2] < high]
        picked = [band[k] for k in rng.choice(len(band), min(24, len(band)), replace=False)] if band else []
        path = args.out / f"copies_{low:.2f}_{high:.2f}.png"
        grid(faces, picked, path)
        print(f"| {low:.2f}-{min(high, 1.0):.2f} | {len(band):,} | {path} |")
    by_hash = np.array([i for i, face in enumerate(faces.pixels.numpy()) if content_position(face) < 0.1])
    grouped = validation_split(faces, 0.1)[1].numpy()
    print(f"\nvalidation faces with a copy (>= {NEAR_CORRELATION}) among the training faces: pixel hash only "
          f"{leaked(faces, by_hash)} of {len(by_hash):,}; with copy groups {leaked(faces, grouped)} of "
          f"{len(grouped):,}")
