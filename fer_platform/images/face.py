"""Query photos to the FER format: the face found and cropped to 48x48 grayscale, as the stored images are.

The detector is OpenCV's Haar cascade for frontal faces, which ships inside the
``opencv-python-headless`` wheel (no download, works offline). When no face is
found the photo is centre-cropped to a square instead, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

FER_SIZE = 48
FACE_MARGIN = 0.15  # FER2013 crops include a little forehead and chin around the detected box


@dataclass(frozen=True)
class FaceCrop:
    """The 48x48 grayscale face and how it was obtained: ``as-is``, ``detected`` or ``centre-crop``."""

    image: Image.Image
    method: str
    box: tuple[int, int, int, int] | None = None  # x, y, width, height in the original photo


@lru_cache(maxsize=1)
def detector() -> cv2.CascadeClassifier:
    path = f"{cv2.data.haarcascades}haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's face cascade {path!r} could not be loaded")
    return cascade


def largest_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest frontal face box in a grayscale array, or None."""
    side = min(gray.shape)
    faces = detector().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(24, side // 10),) * 2)
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def square_around(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by the margin and made square, kept inside the photo (left, top, right, bottom)."""
    x, y, w, h = box
    side = int(max(w, h) * (1 + 2 * FACE_MARGIN))
    side = min(side, width, height)
    cx, cy = x + w // 2, y + h // 2
    left = min(max(0, cx - side // 2), width - side)
    top = min(max(0, cy - side // 2), height - side)
    return left, top, left + side, top + side


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def to_fer_face(image: Image.Image) -> FaceCrop:
    """The FER-format face of a decoded photo."""
    gray = image.convert("L")
    if gray.size == (FER_SIZE, FER_SIZE):
        return FaceCrop(gray, "as-is")
    box = largest_face(np.asarray(gray))
    region = square_around(box, *gray.size) if box else centre_square(*gray.size)
    face = gray.crop(region).resize((FER_SIZE, FER_SIZE), Image.Resampling.LANCZOS)
    return FaceCrop(face, "detected" if box else "centre-crop", box)


def face_pixels(image: Image.Image) -> np.ndarray:
    """A decoded image as 48x48 uint8 grayscale (FER's own images pass through unchanged)."""
    gray = image.convert("L")
    if gray.size != (FER_SIZE, FER_SIZE):
        gray = gray.resize((FER_SIZE, FER_SIZE), Image.Resampling.LANCZOS)
    return np.array(gray, dtype=np.uint8)  # a writable copy: torch.from_numpy shares it
