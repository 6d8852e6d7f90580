"""The manifest of one emotion folder: which files exist, their size, hash and decodability.

A manifest is a polars DataFrame with one row per file (see ``MANIFEST_SCHEMA``);
``error`` is null for files that decode and holds the reason otherwise. File
paths are POSIX paths relative to the image root (``train/happy/im0.png``), the
form stored in ``imagenes_fer.filepath``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from fer_platform.images.decode import ImageDecodeError, decode_image

# imagenes_fer.filepath is varchar(255), as in the seed.
MAX_FILEPATH_CHARS = 255

MANIFEST_SCHEMA = {
    "filepath": pl.String,
    "emotion": pl.String,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "width": pl.Int32,
    "height": pl.Int32,
    "error": pl.String,
}


# Names that copy tools, browsers and editors give files still being written.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp")


def is_image_candidate(name: str) -> bool:
    """A file name that may be an image: not hidden, not a partial download or temporary file."""
    return not name.startswith(".") and not name.lower().endswith(PARTIAL_SUFFIXES)


def list_emotion_files(image_root: Path, split: str, emotion: str) -> list[Path]:
    """Regular image-candidate files of ``<root>/<split>/<emotion>/``, sorted by name."""
    folder = image_root / split / emotion
    if not folder.is_dir():
        raise FileNotFoundError(f"emotion folder {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_candidate(p.name))


def describe_file(path: Path, image_root: Path, emotion: str) -> dict:
    """One manifest row for ``path``: reads it once, hashes it and tries to decode it."""
    data = path.read_bytes()
    row = {
        "filepath": path.relative_to(image_root).as_posix(),
        "emotion": emotion,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "width": None,
        "height": None,
        "error": None,
    }
    if len(row["filepath"]) > MAX_FILEPATH_CHARS:
        row["error"] = f"file path longer than {MAX_FILEPATH_CHARS} characters"
        return row
    try:
        img = decode_image(data)
        row["width"], row["height"] = img.size
    except ImageDecodeError as exc:
        row["error"] = str(exc)
    return row


def scan_emotion(image_root: Path, split: str, emotion: str) -> pl.DataFrame:
    """The manifest of one emotion folder."""
    rows = [describe_file(p, image_root, emotion) for p in list_emotion_files(image_root, split, emotion)]
    return pl.DataFrame(rows, schema=MANIFEST_SCHEMA)
