"""The hostile-input corpus: uploads that must not cost the server more than a bounded amount of memory,
each with the status it must get."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def float_tiff_bomb() -> bytes:
    """94 KB on the wire, a 4096x4096 float image (64 MB as floats, 430 MB with float64 intermediates)."""
    return encoded(Image.new("F", (4096, 4096), 0.5), "TIFF", compression="tiff_adobe_deflate")


def largest_accepted() -> bytes:
    """The largest image the decoder accepts: 4096x4096 RGB (exactly ``MAX_PIXELS``), a uniform PNG of about 60 KB
    on the wire that decodes to 48 MiB of pixels (and to a 16 MiB grayscale copy for the face)."""
    return encoded(Image.new("RGB", (4096, 4096), (90, 120, 200)), "PNG")


def over_max_pixels() -> bytes:
    """One column more than ``MAX_PIXELS`` (4097x4096 grayscale PNG, a few KB): refused from the header."""
    return encoded(Image.new("L", (4097, 4096), 128), "PNG")


def wide_tiff(mode: str, width: int, height: int) -> bytes:
    """A deflated TIFF of 32-bit pixels (mode F: float, I: integer; 4 bytes a pixel when decoded), a few KB on the
    wire; ``MAX_WIDE_PIXELS`` is 2048x2048."""
    return encoded(Image.new(mode, (width, height), 200), "TIFF", compression="tiff_adobe_deflate")


def lying_jpeg() -> bytes:
    """A few hundred bytes whose header claims 4000x4000 pixels."""
    real = encoded(Image.new("L", (16, 16), 128), "JPEG")
    marker = real.index(b"\xff\xc0")  # SOF0: precision (1 byte), height, width (2 bytes each)
    return real[: marker + 5] + struct.pack(">HH", 4000, 4000) + real[marker + 9 : marker + 40]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb() -> bytes:
    """A tiny PNG declaring 20000x20000 pixels (deflate-compressed zeros)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
    rows = zlib.compress(b"\x00" * 20001 * 64)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def face(mode: str = "L") -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8), "L").convert(mode)


def multi_frame_gif() -> bytes:
    return encoded(face("P"), "GIF", save_all=True, append_images=[face("P")] * 3)


def html_png_polyglot() -> bytes:
    """Valid PNG bytes with HTML after the end: served as image/png with nosniff, never as text/html."""
    return encoded(face(), "PNG") + b"<html><script>alert(1)</script></html>"


# name -> (bytes, expected status) at and just over each declared-pixel cap of ``images.decode``: the 415s must be
# refused from the header ("too large"), not fail later in decoding
PIXEL_CAPS = {
    "rgb_at_max_pixels": (largest_accepted, 200),
    "gray_over_max_pixels": (over_max_pixels, 415),
    "int32_tiff_at_max_wide_pixels": (lambda: wide_tiff("I", 2048, 2048), 200),
    "float_tiff_at_max_wide_pixels": (lambda: wide_tiff("F", 2048, 2048), 200),
    "int32_tiff_over_max_wide_pixels": (lambda: wide_tiff("I", 2049, 2048), 415),
    "float_tiff_over_max_wide_pixels": (lambda: wide_tiff("F", 2049, 2048), 415),
}

# name -> (bytes, expected status): 415 for refused bombs and lies, 200 for unusual but valid images
CORPUS = {
    "float_tiff_bomb": (float_tiff_bomb, 415),
    "lying_jpeg_header": (lying_jpeg, 415),
    "png_bomb_20000px": (png_bomb, 415),
    "sixteen_bit_png": (lambda: encoded(Image.fromarray(np.full((48, 48), 40000, np.uint16)), "PNG"), 200),
    "cmyk_jpeg": (lambda: encoded(face("CMYK"), "JPEG"), 200),
    "rgba_png": (lambda: encoded(face("RGBA"), "PNG"), 200),
    "multi_frame_gif": (multi_frame_gif, 200),
    "html_png_polyglot": (html_png_polyglot, 200),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415),
    "empty": (lambda: b"", 415),
}
