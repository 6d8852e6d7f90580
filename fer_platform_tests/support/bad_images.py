"""Writers of every kind of bad or unusual input file the platform must cope with."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def gray_face(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8), mode="L")


def write_bad_files(folder: Path) -> dict[str, str]:
    """Files that must be skipped; returns name -> a word their reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    good = png_bytes(gray_face())
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.png").write_text("this is not an image")
    middle = len(good) // 2
    (folder / "corrupt.png").write_bytes(
        good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 64]) + good[middle + 64 :]
    )
    bomb = Image.new("1", (20000, 20000))  # 400 Mpx of zeros: a few KB as PNG
    bomb.save(folder / "bomb.png")
    Image.new("1", (5000, 5000)).save(folder / "huge.png")  # below PIL's limit, above ours
    return {
        "empty.png": "empty",
        "truncated.png": "truncated",
        "notes.png": "not an image",
        "corrupt.png": "corrupt",
        "bomb.png": "bomb",
        "huge.png": "too large",
    }


def write_unusual_good_files(folder: Path) -> list[str]:
    """Files in other modes and with awkward names that must all be embedded."""
    folder.mkdir(parents=True, exist_ok=True)
    face = gray_face(1)
    face.convert("RGB").save(folder / "rgb face.png")
    rgba = face.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "rgba'quote.png")
    face.convert("P").save(folder / 'palette"dq.png')
    Image.fromarray(np.asarray(face, dtype=np.uint16) * 257).save(folder / "sixteen_bit.png")
    face.save(folder / "ünïcødé 表情.png")
    face.save(folder / "jpeg face.jpg", quality=95)
    return [
        "rgb face.png",
        "rgba'quote.png",
        'palette"dq.png',
        "sixteen_bit.png",
        "ünïcødé 表情.png",
        "jpeg face.jpg",
    ]
