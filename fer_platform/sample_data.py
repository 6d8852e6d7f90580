"""A deterministic synthetic FER-layout data set, so demos and tests need no download.

Each image is a 48x48 grayscale cartoon face whose expression (mouth curve,
mouth opening, brow slant, eye size) is a function of its emotion, drawn with
per-image jitter and pixel noise. The same arguments always give byte-identical
PNG files, which is what makes incremental re-embedding testable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

MARKER = "SYNTHETIC_SAMPLE.txt"  # written beside the split folders: tells a sample from real data
FER2013_EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
SIZE = 48


@dataclass(frozen=True)
class Expression:
    """Geometry of one facial expression, in pixels of a 48x48 face."""

    mouth_curve: float  # > 0 smiles, < 0 frowns
    mouth_open: float
    brow_slant: float  # > 0 inner ends down (anger), < 0 inner ends up (fear, sadness)
    eye_size: float


KNOWN_EXPRESSIONS = {
    "angry": Expression(-3.0, 1.0, 4.0, 2.0),
    "disgust": Expression(-2.0, 0.5, 2.5, 1.2),
    "fear": Expression(-1.0, 4.0, -3.0, 3.5),
    "happy": Expression(5.0, 2.0, 0.0, 2.2),
    "neutral": Expression(0.0, 0.0, 0.0, 2.2),
    "sad": Expression(-4.5, 0.0, -2.5, 1.8),
    "surprise": Expression(0.5, 7.0, -1.5, 4.0),
}


def expression_for(emotion: str) -> Expression:
    """The expression of a FER2013 emotion, or a stable one derived from any other label."""
    if emotion in KNOWN_EXPRESSIONS:
        return KNOWN_EXPRESSIONS[emotion]
    h = hashlib.sha256(emotion.encode()).digest()
    return Expression(h[0] / 255 * 10 - 5, h[1] / 255 * 7, h[2] / 255 * 8 - 4, 1.2 + h[3] / 255 * 3)


def draw_face(expr: Expression, rng: np.random.Generator) -> Image.Image:
    """Draw one jittered, noisy face with the given expression."""
    img = Image.new("L", (SIZE, SIZE), int(rng.integers(20, 70)))
    d = ImageDraw.Draw(img)
    cx, cy = 24 + rng.normal(0, 1.2), 25 + rng.normal(0, 1.2)
    skin = int(rng.integers(150, 220))
    d.ellipse([cx - 17, cy - 21, cx + 17, cy + 21], fill=skin)
    eye_y, r = cy - 6, max(1.0, expr.eye_size + rng.normal(0, 0.3))
    for ex in (cx - 7, cx + 7):
        d.ellipse([ex - r, eye_y - r, ex + r, eye_y + r], fill=30)
        inner = 1 if ex < cx else -1  # direction towards the nose
        slant = expr.brow_slant + rng.normal(0, 0.4)
        d.line([ex - 4 * inner, eye_y - 6, ex + 3 * inner, eye_y - 6 + slant], fill=40, width=2)
    mouth_y, curve = cy + 10, expr.mouth_curve + rng.normal(0, 0.4)
    points = [(cx + t, mouth_y + curve * (1 - (t / 8) ** 2)) for t in np.linspace(-8, 8, 9)]
    opening = max(0.0, expr.mouth_open + rng.normal(0, 0.4))
    if opening > 0.8:
        lower = [(x, y + opening) for x, y in reversed(points)]
        d.polygon(points + lower, fill=25)
    else:
        d.line(points, fill=25, width=2)
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 8, (SIZE, SIZE))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def write_sample_dataset(
    root: Path,
    per_class: int = 20,
    test_per_class: int = 5,
    emotions: Sequence[str] = FER2013_EMOTIONS,
    seed: int = 0,
) -> int:
    """Write ``root/{train,test}/<emotion>/imN.png``; returns how many files were written.

    Existing files with the same name are overwritten with identical bytes, so
    calling this twice is harmless.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("Synthetic cartoon faces written by `fer-platform sample-data`: not FER2013.\n")
    written = 0
    for split, count in (("train", per_class), ("test", test_per_class)):
        for emotion in emotions:
            folder = root / split / emotion
            folder.mkdir(parents=True, exist_ok=True)
            expr = expression_for(emotion)
            for i in range(count):
                key = f"{seed}/{split}/{emotion}/{i}".encode()
                rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
                draw_face(expr, rng).save(folder / f"im{i}.png", optimize=False)
                written += 1
    return written


def is_sample(image_root: Path) -> bool:
    """True when ``image_root`` holds this module's synthetic faces (accuracy on them says little)."""
    return (image_root / MARKER).is_file()
