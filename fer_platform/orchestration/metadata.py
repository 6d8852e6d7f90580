"""Materialization metadata that several stages show in the Dagster UI: failed files, a distribution, faces,
an inline picture. A stage's own plots live in its ``defs/<stage>/`` folder (the models':
``defs/models/metadata.py``)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from dagster import MetadataValue
from PIL import Image, ImageOps

MAX_LISTED_FAILURES = 200


def failures_table(failures: Mapping[str, str], subject: str = "file") -> MetadataValue:
    """A markdown table of failed files (or other ``subject``s) and their reasons (capped, with a count of the rest)."""
    if not failures:
        return MetadataValue.md(f"No failed {subject}s.")

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"| {subject} | reason |", "|---|---|"]
    lines += [f"| `{cell(path)}` | {cell(reason)} |" for path, reason in list(failures.items())[:MAX_LISTED_FAILURES]]
    if len(failures) > MAX_LISTED_FAILURES:
        lines.append(f"| ... | {len(failures) - MAX_LISTED_FAILURES} more |")
    return MetadataValue.md("\n".join(lines))


def distribution_table(counts: Mapping[str, int]) -> MetadataValue:
    """Rows per emotion as a markdown table with a bar for each, as the UI shows it next to the run."""
    total = sum(counts.values()) or 1
    lines = ["| emotion | rows | share | |", "|---|---:|---:|---|"]
    for emotion, n in sorted(counts.items()):
        share = n / total
        lines.append(f"| {emotion} | {n:,} | {share:.1%} | {'█' * max(1, round(share * 40)) if n else ''} |")
    return MetadataValue.md("\n".join(lines))


def image_grid(images: Sequence[Image.Image], columns: int = 8, tile: int = 48) -> MetadataValue:
    """A contact sheet of faces (``tile`` pixels square, grayscale) embedded in markdown as a PNG."""
    if not images:
        return MetadataValue.md("No decodable images.")
    rows = -(-len(images) // columns)
    sheet = Image.new("L", (columns * tile, rows * tile), color=255)
    for i, img in enumerate(images):
        face = ImageOps.fit(img.convert("L"), (tile, tile))
        sheet.paste(face, ((i % columns) * tile, (i // columns) * tile))
    return png_markdown(sheet, f"{len(images)} sample faces")


def png_markdown(image: Image.Image, alt: str) -> MetadataValue:
    """An image inline in markdown metadata (the UI renders data URIs)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
