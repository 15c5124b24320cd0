"""Item images and the shop logo: Pillow decodes, checks and re-encodes; receipts carry the thumbnail."""
from __future__ import annotations

import base64
import io
import zlib
import struct
import time

import pytest
from PIL import Image

from app.domain.images import MAX_JPEG_SCANS, MAX_UPLOAD_BYTES, jpeg_scan_count


def image_bytes(fmt: str, size=(300, 200), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 80, 20))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x013B] = "Secret Photographer"  # Artist
        tags[0x010F] = "PhoneMaker"  # Make
        image.save(out, fmt, exif=tags)
    else:
        image.save(out, fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def decode_data_uri(uri: str, mime: str) -> Image.Image:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):])))


def upload(client, shop, item_id, data: bytes, multipart: bool = False, content_type="image/png"):
    url = f"/api/inventory/{item_id}/image"
    if multipart:
        return client.post(url, data={"image": (io.BytesIO(data), "photo.bin")}, headers=shop.headers,
                           content_type="multipart/form-data")
    return client.post(url, data=data, headers={**shop.headers, "Content-Type": content_type})


@pytest.mark.parametrize("fmt, multipart", [("PNG", False), ("JPEG", True), ("WEBP", False)],
                         ids=["png-body", "jpeg-multipart", "webp-body"])
def test_image_becomes_a_96px_jpeg_thumbnail(client, shop, fmt, multipart):
    item = shop.items["COFFEE-001"]
    response = upload(client, shop, item.id, image_bytes(fmt), multipart=multipart)
    assert response.status_code == 200, response.json
    thumb = decode_data_uri(response.json["image"], "image/jpeg")
    assert (thumb.format, thumb.size) == ("JPEG", (96, 96))


def test_metadata_is_stripped(client, shop):
    original = image_bytes("JPEG", exif=True)
    assert dict(Image.open(io.BytesIO(original)).getexif())  # the upload does carry EXIF
    response = upload(client, shop, shop.items["COFFEE-001"].id, original, content_type="image/jpeg")
    thumb = decode_data_uri(response.json["image"], "image/jpeg")
    assert dict(thumb.getexif()) == {}
    assert b"Secret Photographer" not in base64.b64decode(response.json["image"].split(",", 1)[1])


def test_receipts_carry_the_thumbnail_as_thumb(client, shop):
    response = upload(client, shop, shop.items["COFFEE-001"].id, image_bytes("PNG"))
    order = client.post("/api/orders",
                        json={"items": [{"sku": "COFFEE-001", "qty": 1}, {"sku": "PASTRY-001", "qty": 1}]},
                        headers=shop.headers).json["receipt"]
    by_sku = {line.get("sku"): line for line in order["lineItems"]}
    assert by_sku["COFFEE-001"]["thumb"] == response.json["image"]
    assert "thumb" not in by_sku["PASTRY-001"]
    listed = client.get("/api/receipts", headers=shop.headers).json["receipts"][0]
    assert listed["lineItems"][0]["thumb"] == response.json["image"]


@pytest.mark.parametrize("data, message", [
    (b"hello, not an image", "not an image"),
    (image_bytes("GIF"), "not GIF"),
    (image_bytes("PNG")[:200], "damaged"),
    (png_claiming(4_097, 4_096), "pixels"),
    (png_claiming(7_100, 7_100), "pixels"),
    (png_claiming(60_000, 60_000), "pixels"),
    (b"", "image"),
], ids=["text", "gif", "truncated", "one-column-over-4096-squared", "bomb-50-megapixels", "bomb-3.6-gigapixels",
        "empty"])
def test_bad_uploads_are_a_clear_400(client, shop, data, message):
    response = upload(client, shop, shop.items["COFFEE-001"].id, data)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_input"
    assert message in response.json["message"]


@pytest.mark.parametrize("extra", [1, 256 * 1024], ids=["just-over", "past-the-multipart-room"])
@pytest.mark.parametrize("multipart", [False, True], ids=["body", "multipart"])
def test_uploads_over_5_mb_are_413(client, shop, multipart, extra):
    response = upload(client, shop, shop.items["COFFEE-001"].id, b"\x89PNG" + b"\0" * (MAX_UPLOAD_BYTES + extra),
                      multipart=multipart)
    assert (response.status_code, response.json["error"]) == (413, "payload_too_large")
    assert "larger than 5 MB" in response.json["message"]


def test_a_logo_over_5_mb_is_413(client, shop):
    response = client.post("/api/shop/logo", data=b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES,
                           headers={**shop.headers, "Content-Type": "image/png"})
    assert (response.status_code, response.json["error"]) == (413, "payload_too_large")


def test_an_image_far_over_the_64_kib_body_cap_is_taken(client, shop):
    noise = Image.frombytes("RGB", (400, 400), bytes(range(256)) * 1875)  # 480,000 bytes, barely compressible
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=0)
    assert len(out.getvalue()) > 4 * 64 * 1024
    response = upload(client, shop, shop.items["COFFEE-001"].id, out.getvalue())
    assert response.status_code == 200 and response.json["image"].startswith("data:image/jpeg;base64,")


def test_image_needs_inventory_write_and_own_item(client, shop, factory):
    reader = factory.key(shop.merchant, ["inventory:read"])
    response = client.post(f"/api/inventory/{shop.items['COFFEE-001'].id}/image", data=image_bytes("PNG"),
                           headers={"Ocp-Apim-Subscription-Key": reader, "Content-Type": "image/png"})
    assert response.status_code == 403
    other = factory.merchant("Other")
    other_item = factory.item(other, "X-1", "1.00")
    assert upload(client, shop, other_item.id, image_bytes("PNG")).status_code == 404


def test_shop_logo_fits_240_by_96_and_keeps_transparency(client, shop):
    logo = Image.new("RGBA", (1000, 200), (0, 0, 0, 0))
    out = io.BytesIO()
    logo.save(out, "PNG")
    response = client.post("/api/shop/logo", data=out.getvalue(), headers={**shop.headers, "Content-Type": "image/png"})
    assert response.status_code == 200, response.json
    stored = decode_data_uri(response.json["image"], "image/png")
    assert (stored.size, stored.mode) == ((240, 48), "RGBA")


def jpeg_scans(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Return a progressive JPEG split into its header (up to the first scan), its scans (each with the
    tables that follow it) and the end marker."""
    first = data.index(b"\xff\xda")
    starts = [i for i in range(first, len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    return data[:first], [data[a:b] for a, b in zip(starts, [*starts[1:], len(data) - 2])], data[-2:]


def progressive_jpeg(size=(1024, 1024), extra_scans: int = 0) -> bytes:
    """A progressive JPEG made by Pillow; extra_scans copies of its last (refinement) scan make it crafted:
    each copy is a few bytes, and the decoder passes over every block again for it."""
    out = io.BytesIO()
    Image.new("RGB", size, (120, 130, 140)).save(out, "JPEG", progressive=True, quality=90)
    header, scans, end = jpeg_scans(out.getvalue())
    return header + b"".join(scans) + scans[-1] * extra_scans + end


def test_an_ordinary_progressive_jpeg_is_taken(client, shop):
    data = progressive_jpeg()
    assert 5 < jpeg_scan_count(data) <= MAX_JPEG_SCANS
    assert upload(client, shop, shop.items["COFFEE-001"].id, data, content_type="image/jpeg").status_code == 200


@pytest.mark.parametrize("size, extra", [((1024, 1024), 3000), ((4096, 4096), 20)],
                         ids=["3000-scans", "4096-squared-with-30-scans"])
def test_a_crafted_many_scan_progressive_jpeg_is_refused_without_holding_a_thread(client, shop, size, extra):
    data = progressive_jpeg(size, extra)
    assert len(data) < 200_000  # small on the wire, seconds of decoding before the check
    started = time.monotonic()
    response = upload(client, shop, shop.items["COFFEE-001"].id, data, content_type="image/jpeg")
    assert (response.status_code, response.json["error"]) == (400, "invalid_input")
    assert "scans" in response.json["message"]
    assert time.monotonic() - started < 1.0
