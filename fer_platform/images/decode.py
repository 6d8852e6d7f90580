"""Safe image decoding shared by the manifest (validation) and the embedder, and an image's type from its first
bytes (never from its name: what ``/images`` may serve, and as what).

Every way an input file can be bad ends here as an ``ImageDecodeError`` whose
message says what is wrong, so callers can report the file and skip it.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

# FER images are 48x48; anything beyond ~16 Mpx is not a face crop and is refused
# before its pixels are decoded (PIL's own bomb limit is ten times higher).
MAX_PIXELS = 4096 * 4096
# 16/32-bit integer and float pixels (modes I, I;16, F) take 2-4 bytes each when decoded: a smaller cap keeps a
# tiny compressed float TIFF from costing hundreds of MB.
MAX_WIDE_PIXELS = 2048 * 2048
WIDE_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")


class ImageDecodeError(ValueError):
    """A file that is not a usable image; the message is the reason shown to the user."""


def to_8bit(img: Image.Image) -> Image.Image:
    """Bring 16/32-bit integer and float grayscale to 8 bits by scaling, not clipping."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return Image.fromarray((np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8), mode="L")
    if img.mode in ("I", "F"):
        # A writable float32 array of its own (a float image's own buffer is read-only), scaled in place: never
        # float64 copies of a large image.
        arr = np.array(img, dtype=np.float32)
        scale = 255.0 / (65535.0 if arr.max(initial=0) > 255 else 255.0)
        np.multiply(arr, scale, out=arr)
        np.clip(arr, 0, 255, out=arr)
        return Image.fromarray(arr.astype(np.uint8), mode="L")
    return img


def decode_image(data: bytes, draft_side: int | None = None) -> Image.Image:
    """Decode ``data`` fully into an image the seed transform accepts (mode L, RGB, RGBA, P...).

    The declared size is checked before any pixel is decoded; ``draft_side`` lets a JPEG decode straight to
    grayscale at a reduced scale (its DCT scaling), so a large photo never exists at full size in memory.
    """
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageDecodeError(f"image too large ({width}x{height} pixels > {MAX_PIXELS})")
            if img.mode in WIDE_MODES and width * height > MAX_WIDE_PIXELS:
                raise ImageDecodeError(f"{img.mode} image too large ({width}x{height} pixels > {MAX_WIDE_PIXELS})")
            if draft_side and img.format == "JPEG":
                img.draft("L", (draft_side, draft_side))
            img.load()
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image PIL can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"decompression bomb refused: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"corrupt or truncated image: {exc}") from None
    return to_8bit(img)


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
