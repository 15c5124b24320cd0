"""Uploaded images made safe to serve: decoded by Pillow, size-checked, re-encoded without metadata."""
from __future__ import annotations

import base64
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 16_777_216  # 4096 x 4096: at most 64 MB decoded (RGBA); a 96 x 96 thumbnail never needs more
FORMATS = ("PNG", "JPEG", "WEBP")
THUMB_SIZE = (96, 96)
LOGO_BOX = (240, 96)


class BadImage(ValueError):
    """The upload is not an acceptable image; the message says why, for the uploader."""


def thumbnail_jpeg(data: bytes) -> bytes:
    """Return a 96x96 JPEG (centre-cropped, no metadata) of an uploaded image; raises BadImage."""
    image = ImageOps.fit(_decode(data).convert("RGB"), THUMB_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def logo_png(data: bytes) -> bytes:
    """Return the image scaled to fit 240x96 as a PNG (transparency kept, no metadata); raises BadImage."""
    image = _decode(data).convert("RGBA")
    image.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def data_uri(mime: str, data: bytes) -> str:
    """Return data as a base64 data: URI."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _decode(data: bytes) -> Image.Image:
    """Return the decoded image, upright, with its pixels loaded; raises BadImage."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadImage("The image is larger than 5 MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImage(f"The image has too many pixels; at most {MAX_PIXELS:,} pixels are accepted") from exc
        except UnidentifiedImageError as exc:
            raise BadImage("The file is not an image Tillpoint can read (PNG, JPEG or WebP)") from exc
        if image.format not in FORMATS:
            raise BadImage(f"Send a PNG, JPEG or WebP image, not {image.format}")
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise BadImage(f"The image is {width}x{height} pixels; at most {MAX_PIXELS:,} pixels are accepted")
        try:
            image.load()
            return ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow's errors for truncated or corrupt data
            raise BadImage("The image is damaged or truncated") from exc
