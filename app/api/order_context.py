"""The integrator's context on an order (metadata, redirectUrl): the rules both POST /api/orders and the
receipt list's metadata.<key> filters check."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from app.jsoncodec import canonical
from app.webhooks import ssrf

MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 50, 40, 500
MAX_METADATA_BYTES = 8 * 1024
MAX_REDIRECT_URL = 2048


def check_metadata_key(key: str) -> None:
    """Return None for a usable metadata key (1..40 printable ASCII characters but `"` and `\\`); raises
    ValidationError. SQLite's JSON paths cannot name the others (nor a key stored \\u-escaped), so
    ?metadata.<key>= would find them on PostgreSQL only."""
    if not 1 <= len(key) <= MAX_METADATA_KEY:
        raise ValidationError(f"Keys are 1 to {MAX_METADATA_KEY} characters; {key[:MAX_METADATA_KEY]!r}… is not.")
    if not (key.isascii() and key.isprintable()) or '"' in key or "\\" in key:
        raise ValidationError(f"Key {key!r} may hold printable ASCII characters other than '\"' and '\\'.")


class Metadata(fields.Dict):
    """The integrator's own context: at most 50 string keys of 1..40 characters, string values of at most
    500, 8 KiB in all (as compact JSON, UTF-8)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(keys=fields.String(), values=fields.String(validate=validate.Length(max=MAX_METADATA_VALUE)),
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object of string keys and string values.")
        if len(value) > MAX_METADATA_KEYS:
            raise ValidationError(f"At most {MAX_METADATA_KEYS} keys.")
        for key in value:
            check_metadata_key(key)
        loaded = super()._deserialize(value, attr, data, **kwargs)
        if len(canonical(loaded).encode()) > MAX_METADATA_BYTES:
            raise ValidationError(f"At most {MAX_METADATA_BYTES} bytes in all, as JSON.")
        return loaded


def check_redirect_url(url: str, require_https: bool) -> None:
    """Return None for a URL the pay page may link back to; raises ValidationError (not http(s), https
    required outside dev/test, no host, credentials, or spaces and control characters). The same URL rules
    as webhook URLs, without resolving the host."""
    try:
        ssrf.parse(url, require_https)
    except ssrf.UnsafeUrl as exc:
        raise ValidationError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    if not url.isprintable() or " " in url:
        raise ValidationError("Must not hold spaces or control characters (percent-encode them).")


METADATA_FILTER_PREFIX = "metadata."
MAX_METADATA_FILTERS = 10


def metadata_filters(args) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return (key → value, errors by parameter) of the metadata.<key>=<value> query parameters in args."""
    wanted = {name: value for name, value in args.items() if name.startswith(METADATA_FILTER_PREFIX)}
    errors: dict[str, list[str]] = {}
    if len(wanted) > MAX_METADATA_FILTERS:
        errors["metadata"] = [f"At most {MAX_METADATA_FILTERS} metadata filters."]
    for name, value in wanted.items():
        try:
            check_metadata_key(name.removeprefix(METADATA_FILTER_PREFIX))
            if len(value) > MAX_METADATA_VALUE:
                raise ValidationError(f"Values are at most {MAX_METADATA_VALUE} characters.")
        except ValidationError as err:
            errors[name] = err.messages
    return {name.removeprefix(METADATA_FILTER_PREFIX): value for name, value in wanted.items()}, errors
