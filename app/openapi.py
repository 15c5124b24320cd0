"""The OpenAPI document, built from the marshmallow schemas each route declares with @doc.

Everything a generated client needs and the routes do not repeat is derived here, so a new route gets it
too: its operationId from the endpoint name, its tag from the module, its security from @requires, and the
rate-limit 429 and headers.
"""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields

from app.fields import ErrorSchema

OPENAPI_VERSION = "3.1.0"  # for the `webhooks` section
SECURITY_SCHEMES = {
    "subscriptionKey": {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
               "description": "The same subscription key under another header name"},
    "session": {"type": "apiKey", "in": "cookie", "name": "cb_auth_token",
                "description": "Admin session from POST /auth/login; a merchant session has every scope. "
                               "State-changing requests must echo the cb_csrf cookie in X-CSRF-Token."},
    "wallet": {"type": "apiKey", "in": "header", "name": "x-wallet",
               "description": "Public reads: the merchant's wallet, no credential"},
}
KEY_SCHEMES = ("subscriptionKey", "apiKey")
UNLIMITED_BLUEPRINTS = frozenset({"meta"})  # create_app exempts them from the rate limiter
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the current window",
    "X-RateLimit-Remaining": "Requests left in the current window",
    "X-RateLimit-Reset": "When the window resets, seconds since the epoch",
}
BINARY = {"type": "string", "format": "binary"}
IMAGE_UPLOAD = {  # what app.api.schemas.uploaded_image reads: the raw body, or the multipart field `image`
    **{media: {"schema": BINARY} for media in ("image/png", "image/jpeg", "image/webp", "application/octet-stream")},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"image": BINARY}, "required": ["image"]},
                            "encoding": {"image": {"contentType": "image/png, image/jpeg, image/webp"}}},
}
WEBHOOK_HEADERS = {
    "webhook-id": "The event id (evt_…): the same on every attempt, for deduplication",
    "webhook-timestamp": "When this attempt was signed, seconds since the epoch",
    "webhook-signature": "v1,<base64 HMAC-SHA256> per secret in use (Standard Webhooks), space-separated",
}


class RateLimitedSchema(ErrorSchema):
    error = fields.String(required=True, metadata={"enum": ["rate_limited"]})
    reset_at = fields.Integer(data_key="resetAt", required=True, allow_none=True,
                              metadata={"description": "when the window resets, ms since the epoch"})


def doc(summary: str, response, request=None, query=None, status: int = 200, errors: tuple[int, ...] = (),
        session: bool = False, media: str = "application/json", headers: tuple[dict, ...] = ()):
    """Attach OpenAPI facts to a view: its body, query and response schemas, or session=True for a route only
    a session uses. The scope (key or session) and x-wallet reads come from the route's @requires.

    A view answering something other than JSON (a page, an image, an event stream) passes response=None
    and its media type. request is a schema, or a dict of media types for another body (IMAGE_UPLOAD);
    headers are request header parameters.
    """

    def decorator(view):
        view.openapi = {"summary": summary, "response": response, "request": request, "query": query,
                        "status": status, "errors": errors, "session": session, "media": media,
                        "headers": headers}
        return view

    return decorator


def build_spec(app: Flask, envelope: type[Schema] | None = None,
               events: dict[str, tuple[str, type[Schema] | None]] | None = None) -> dict:
    """Return the OpenAPI document for every documented route of app and, given the envelope schema, the
    webhook events (type -> summary and data schema). Raises ValueError if two operations share an id."""
    marshmallow = MarshmallowPlugin()
    public_url = app.config["TILLPOINT"].PUBLIC_URL
    spec = APISpec(title="Tillpoint API", version="1.0.0", openapi_version=OPENAPI_VERSION, plugins=[marshmallow],
                   servers=[{"url": public_url or "/"}])
    marshmallow.converter.add_attribute_function(_custom_property)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("RateLimited", schema=RateLimitedSchema)
    for name, description in {**RATE_LIMIT_HEADERS, "Retry-After": "Seconds until the window resets"}.items():
        spec.components.header(name, {"description": description, "schema": {"type": "integer"}})
    paths, tags = _paths(app)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    webhooks = _webhooks(spec, envelope, events) if envelope and events else {}
    document = spec.to_dict()
    if webhooks:
        tags.add("webhooks")
        document["webhooks"] = webhooks
    document["tags"] = [{"name": tag} for tag in sorted(tags)]
    return document


def _paths(app: Flask) -> tuple[dict[str, dict], set[str]]:
    documented = [(rule, app.view_functions[rule.endpoint]) for rule in app.url_map.iter_rules()
                  if hasattr(app.view_functions[rule.endpoint], "openapi")]
    module_tags = {_module_tag(rule, view) for rule, view in documented}
    methods_of: dict[str, set[str]] = {}  # per endpoint: one view may sit on several rules (@bp.get and @bp.patch)
    for rule, _ in documented:
        methods_of.setdefault(rule.endpoint, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    paths: dict[str, dict] = {}
    seen: dict[str, str] = {}
    for rule, view in documented:
        # @requires (app/auth/keys.py) records what the route checks: the spec says the same, never a copy of it.
        meta = {**view.openapi, "scope": getattr(view, "required_scope", None), "public": getattr(view, "public", False),
                "limited": rule.endpoint.partition(".")[0] not in UNLIMITED_BLUEPRINTS}
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = _operation(meta, rule.arguments)
            operation["operationId"] = operation_id(rule.endpoint, method, len(methods_of[rule.endpoint]) > 1)
            operation["tags"] = [_tag(rule, view, module_tags)]
            if (other := seen.setdefault(operation["operationId"], f"{method} {path}")) != f"{method} {path}":
                raise ValueError(f"operationId {operation['operationId']} of {method} {path} is also {other}'s")
            paths.setdefault(path, {})[method.lower()] = operation
    return paths, {tag for operations in paths.values() for op in operations.values() for tag in op["tags"]}


def operation_id(endpoint: str, method: str, several_methods: bool) -> str:
    """Return the operationId of endpoint's method: its name in camelCase (api.create_order -> createOrder),
    other blueprints' prefixed with the blueprint (pay.status -> payStatus), the method first when one view
    answers several (getWebhook, patchWebhook)."""
    blueprint, _, name = endpoint.rpartition(".")
    words = ([] if blueprint in ("", "api") else [blueprint]) + name.split("_")
    if several_methods:
        words.insert(0, method.lower())
    return words[0].lower() + "".join(word.capitalize() for word in words[1:] if word)


def _module_tag(rule, view) -> str:
    module = view.__module__.rpartition(".")[2]
    return rule.endpoint.rpartition(".")[0] if module == "views" else module


def _tag(rule, view, module_tags: set[str]) -> str:
    """Return the operation's tag: the resource its module serves (app/api/refunds.py -> refunds; a
    blueprint's views.py -> the blueprint), or for an /api path whose first segment names no module, that
    segment (routes of /api/events kept in another module -> events)."""
    segments = rule.rule.split("/")
    if segments[1] == "api" and len(segments) > 2 and segments[2] not in module_tags and "<" not in segments[2]:
        return segments[2]
    return _module_tag(rule, view)


def _custom_property(converter, field, **kwargs) -> dict:
    """Let a field describe itself when no OpenAPI type maps to it (numbers that may come as strings)."""
    if not hasattr(field, "openapi_property"):
        return {}
    prop = field.openapi_property()
    if field.allow_none and "oneOf" in prop:  # apispec adds null to a "type" only, not to a oneOf
        prop = {**prop, "oneOf": [*prop["oneOf"], {"type": "null"}]}
    return prop


def _error(meta: dict, schema: str = "Error") -> dict:
    # pages answer errors as pages, the rest in the JSON error model
    content = {"text/html": {}} if meta["media"] == "text/html" else {"application/json": {"schema": schema}}
    return {"description": "Error", "content": content}


def _operation(meta: dict, path_args) -> dict:
    limit_headers = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
    ok = {"description": "OK", "content": {
        meta["media"]: {"schema": meta["response"]} if meta["response"] is not None else {}}}
    operation: dict = {"summary": meta["summary"], "responses": {str(meta["status"]): ok}}
    for status in (400, *meta["errors"]):
        operation["responses"][str(status)] = _error(meta)
    if meta["scope"]:
        operation["responses"].setdefault("401", {**_error(meta), "description": "Unauthorized"})
        operation["responses"].setdefault("403", {**_error(meta), "description": "Forbidden"})
    if meta["limited"]:
        operation["responses"]["429"] = {**_error(meta, "RateLimited"), "description": "Rate limit exceeded"}
        for response in operation["responses"].values():
            response["headers"] = dict(limit_headers)
        operation["responses"]["429"]["headers"]["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    parameters = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in sorted(path_args)]
    parameters += [{"in": "header", **header} for header in meta["headers"]]
    if meta["query"] is not None:
        parameters.append({"in": "query", "schema": meta["query"]})
    if parameters:
        operation["parameters"] = parameters
    if meta["request"] is not None:
        content = meta["request"] if isinstance(meta["request"], dict) else {
            "application/json": {"schema": meta["request"]}}
        operation["requestBody"] = {"required": True, "content": content}
    operation["security"] = _security(meta)
    return operation


def _security(meta: dict) -> list[dict]:
    """Return the schemes an operation accepts: a key holding its scope or a session, x-wallet for a public
    read, only the session for a session route, none for a public one."""
    if meta["scope"]:
        accepted = [*({scheme: [meta["scope"]]} for scheme in KEY_SCHEMES), {"session": []}]
        return accepted + [{"wallet": []}] if meta["public"] else accepted
    return [{"session": []}] if meta["session"] else []


def _webhooks(spec: APISpec, envelope: type[Schema], events: dict[str, tuple[str, type[Schema] | None]]) -> dict:
    """Return the `webhooks` section: one POST per event type, its body an Event with that type's data."""
    spec.components.schema("Event", schema=envelope)
    event = spec.components.schemas["Event"]
    parameters = [{"in": "header", "name": name, "required": True, "description": description,
                   "schema": {"type": "string"}} for name, description in WEBHOOK_HEADERS.items()]
    section = {}
    for type_, (summary, data) in events.items():
        name = "".join(part.capitalize() for part in re.split(r"[._]", type_))
        data_ref = {"type": "object"}
        if data is not None:
            data_name = data.__name__.removesuffix("Schema")
            if data_name not in spec.components.schemas:
                spec.components.schema(data_name, schema=data)
            data_ref = {"$ref": f"#/components/schemas/{data_name}"}
        # A whole object rather than allOf [Event, ...]: client generators cannot narrow an inherited property.
        spec.components.schema(f"{name}Event", {**event, "description": summary, "properties": {
            **event["properties"], "type": {"type": "string", "const": type_}, "data": data_ref}})
        section[type_] = {"post": {
            "operationId": f"on{name}", "tags": ["webhooks"], "summary": summary, "parameters": parameters,
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{name}Event"}}}},
            "responses": {"200": {"description": "Received (any 2xx); anything else is retried"},
                          "410": {"description": "Gone: the endpoint is disabled, no more deliveries"}}}}
    return section
