"""QR codes of EIP-681 payment URIs, as PNG and SVG, cached per process by URI (a URI's image never changes)."""
from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import qrcode
from qrcode.image.svg import SvgPathImage

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def version(uri: str) -> str:
    """Return a short, stable tag of the URI: the image's ETag and its cache-busting URL parameter."""
    return hashlib.sha256(uri.encode()).hexdigest()[:20]


@lru_cache(maxsize=1024)
def render(uri: str, fmt: str) -> bytes:
    """Return the QR code of uri as PNG or SVG bytes; raises ValueError for another format."""
    if fmt not in FORMATS:
        raise ValueError(f"no QR format {fmt!r}")
    # Medium error correction survives a phone screen's glare; box 8 px gives a ~400 px PNG for a typical URI.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(uri)
    code.make(fit=True)
    out = io.BytesIO()
    if fmt == "svg":
        code.make_image(image_factory=SvgPathImage).save(out)
    else:
        code.make_image().save(out)
    return out.getvalue()
