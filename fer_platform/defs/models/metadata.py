"""What the UI shows of a trained model: its evaluation (recall, confusion matrix, reliability diagram), its
learning curve, and captioned rows of faces (the data-quality reports)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from dagster import MetadataValue
from PIL import Image, ImageDraw

from fer_platform.models.evaluation import CalibrationBin, Evaluation, confusion_image
from fer_platform.orchestration.metadata import png_markdown


def captioned_faces(rows: Sequence[tuple[Sequence[np.ndarray], str]], title: str, tile: int = 48) -> MetadataValue:
    """One row per item: its faces (48x48 uint8) side by side, then its caption; a title above."""
    if not rows:
        return MetadataValue.md("None found.")
    faces_w = tile * max(len(faces) for faces, _ in rows)
    sheet = Image.new("L", (faces_w + 200, 20 + tile * len(rows)), color=255)
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), title, fill=0)
    for r, (faces, caption) in enumerate(rows):
        for c, face in enumerate(faces):
            sheet.paste(Image.fromarray(face).resize((tile, tile)), (c * tile, 20 + r * tile))
        draw.text((faces_w + 8, 20 + r * tile + tile // 2 - 6), caption[:32], fill=0)
    return png_markdown(sheet, title)


def confusion_plot(classes: Sequence[str], confusion: Sequence[Sequence[int]]) -> MetadataValue:
    """The confusion matrix as a heat map (``models.evaluation.confusion_image``)."""
    return png_markdown(confusion_image(classes, confusion), "confusion matrix")


def recall_table(evaluation: Evaluation) -> MetadataValue:
    """Recall per emotion as a markdown table."""
    lines = ["| emotion | recall |", "|---|---:|"]
    lines += [f"| {c} | {r:.1%} |" for c, r in evaluation.recall.items()]
    return MetadataValue.md("\n".join(lines))


def reliability_plot(bins: Sequence[CalibrationBin], size: int = 240) -> MetadataValue:
    """The reliability diagram: accuracy (bars) against confidence per bin, the diagonal being perfect
    calibration; bins without predictions are left empty."""
    margin = 30
    plot = Image.new("RGB", (size + 2 * margin, size + 2 * margin), "white")
    draw = ImageDraw.Draw(plot)
    width = size / max(1, len(bins))
    for i, b in enumerate(bins):
        if b.count:
            left = margin + i * width
            draw.rectangle(
                (left + 1, margin + size * (1 - b.accuracy), left + width - 1, margin + size), fill=(90, 120, 220)
            )
    draw.line((margin, margin + size, margin + size, margin), fill=(200, 40, 40), width=2)
    draw.rectangle((margin, margin, margin + size, margin + size), outline="black")
    draw.text((margin, 8), "accuracy per confidence bin (diagonal: calibrated)", fill="black")
    draw.text((margin, margin + size + 8), "0                confidence                1", fill="black")
    return png_markdown(plot, "reliability diagram")


CURVES = (("train_loss", (200, 40, 40)), ("validation_accuracy", (40, 120, 40)), ("learning_rate", (40, 80, 220)))


def learning_curve_plot(curve: Sequence[dict], width: int = 420, height: int = 220) -> MetadataValue:
    """Per epoch: training loss, validation accuracy and learning rate, each scaled to its own maximum (the
    legend gives the maxima), so the shapes (a falling loss, a rising accuracy, an annealed rate) compare."""
    if not curve:
        return MetadataValue.md("No epoch finished.")
    margin = 30
    plot = Image.new("RGB", (width + 2 * margin, height + 2 * margin + 14 * len(CURVES)), "white")
    draw = ImageDraw.Draw(plot)
    draw.rectangle((margin, margin, margin + width, margin + height), outline="black")
    step = width / max(1, len(curve) - 1)
    for k, (name, colour) in enumerate(CURVES):
        values = [float(c[name]) for c in curve]
        top = max(values) or 1.0
        points = [(margin + i * step, margin + height * (1 - v / top)) for i, v in enumerate(values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=colour)
        draw.text((margin, margin + height + 20 + 14 * k), f"{name} (max {top:.4g})", fill=colour)
    draw.text((margin, 8), f"learning curve, epochs 1-{len(curve)}", fill="black")
    return png_markdown(plot, "learning curve")


def evaluation_metadata(evaluation: Evaluation) -> dict[str, object]:
    """What the UI shows of a model's test-split evaluation, the same for every trained model."""
    return {
        "test_accuracy": evaluation.accuracy,
        "test_macro_f1": evaluation.macro_f1,
        "expected_calibration_error": evaluation.expected_calibration_error,
        "test_samples": evaluation.samples,
        "recall_per_emotion": recall_table(evaluation),
        "confusion_matrix": confusion_plot(evaluation.classes, evaluation.confusion),
        "reliability": reliability_plot(evaluation.calibration),
    }
