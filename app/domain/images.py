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
# A progressive JPEG's decoder passes over every block once per scan, and a scan can be a few bytes: 1,000
# copied refinement scans of a flat 4096x4096 image are 130 KB and held a thread for 15 s. Encoders write
# about 10 scans (libjpeg's default script; mozjpeg a few more), so more than MAX_JPEG_SCANS is a crafted file,
# and pixels x scans stays under DECODE_BUDGET (16 scans of the largest image, each pass a few milliseconds).
MAX_JPEG_SCANS = 64
DECODE_BUDGET = 16 * MAX_PIXELS
SOS = b"\xff\xda"  # start of scan: inside entropy-coded data 0xFF is always followed by 0x00 or a restart


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
        if image.format == "JPEG":
            _check_decode_work(data, width * height)
        try:
            image.load()
            return ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow's errors for truncated or corrupt data
            raise BadImage("The image is damaged or truncated") from exc


def _check_decode_work(data: bytes, pixels: int) -> None:
    """Raise BadImage when a JPEG's scans would make its decode work abnormal (see MAX_JPEG_SCANS)."""
    scans = jpeg_scan_count(data)
    if scans > MAX_JPEG_SCANS or pixels * scans > DECODE_BUDGET:
        raise BadImage(f"The JPEG has {scans} scans, more than an encoder writes for its size; "
                       "save it again as a baseline or ordinary progressive JPEG")


def jpeg_scan_count(data: bytes) -> int:
    """Return how many scans (SOS markers) a JPEG has, not counting an embedded EXIF thumbnail's."""
    position = 2  # after SOI
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA:
            return data.count(SOS, position)
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return 0
