"""QR codes of EIP-681 payment URIs, as PNG and SVG, cached per process by URI (a URI's image never changes).

A QR URL carries ?v=<version of its URI>. Once this process has read a receipt's URI for a token from the
database, it remembers (receipt, token, version) → URI, so the same versioned URL is answered again without
the database: what it names can never change, exactly as a browser or CDN caching it for a year assumes.
"""
from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from functools import lru_cache

import qrcode
from qrcode.image.svg import SvgPathImage

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
KNOWN_MAX = 4096

_known: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_known_lock = threading.Lock()


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


def remember(receipt_id: str, token: str, uri: str) -> str:
    """Record that the receipt's QR for token shows uri (as read from the database); return uri."""
    with _known_lock:
        _known[(receipt_id, token, version(uri))] = uri
        _known.move_to_end((receipt_id, token, version(uri)))
        while len(_known) > KNOWN_MAX:
            _known.popitem(last=False)
    return uri


def known_uri(receipt_id: str, token: str, tag: str) -> str | None:
    """Return the URI a versioned QR URL names, if this process has served it; else None."""
    with _known_lock:
        return _known.get((receipt_id, token, tag))
