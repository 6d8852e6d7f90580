"""An image's type from its first bytes (never from its name): what ``/images`` may serve, and as what."""

from __future__ import annotations

SNIFF_BYTES = 16
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff_image_type(head: bytes) -> str | None:
    """The media type of PNG, JPEG, GIF, WebP, BMP and TIFF data; None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in SIGNATURES:
        if head.startswith(signature):
            return media_type
    return None
