"""The OpenAPI document, built from the marshmallow schemas each route declares with @doc."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from app.fields import ErrorSchema

KEY_SCHEME = {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"}
WALLET_SCHEME = {"type": "apiKey", "in": "header", "name": "x-wallet"}
SESSION_SCHEME = {"type": "apiKey", "in": "cookie", "name": "cb_auth_token",
                  "description": "Admin session from POST /auth/login; a merchant session has every scope. "
                                 "State-changing requests must echo the cb_csrf cookie in X-CSRF-Token."}


def doc(summary: str, response, request=None, query=None, status: int = 200, errors: tuple[int, ...] = (),
        session: bool = False, media: str = "application/json"):
    """Attach OpenAPI facts to a view: its body, query and response schemas, or session=True for a route only
    a session uses. The scope (key or session) and x-wallet reads come from the route's @requires.

    A view answering something other than JSON (a page, an image, an event stream) passes response=None
    and its media type.
    """

    def decorator(view):
        view.openapi = {"summary": summary, "response": response, "request": request, "query": query,
                        "status": status, "errors": errors, "session": session, "media": media}
        return view

    return decorator


def build_spec(app: Flask) -> dict:
    """Return the OpenAPI 3 document for every documented route of app."""
    marshmallow = MarshmallowPlugin()
    spec = APISpec(title="Tillpoint API", version="1.0.0", openapi_version="3.0.3", plugins=[marshmallow])
    marshmallow.converter.add_attribute_function(_custom_property)
    spec.components.security_scheme("subscriptionKey", KEY_SCHEME)
    spec.components.security_scheme("wallet", WALLET_SCHEME)
    spec.components.security_scheme("session", SESSION_SCHEME)
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        # @requires (app/auth/keys.py) records what the route checks: the spec says the same, never a copy of it.
        meta = {**meta, "scope": getattr(view, "required_scope", None), "public": getattr(view, "public", False)}
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, rule.arguments)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _custom_property(converter, field, **kwargs) -> dict:
    """Let a field describe itself when no OpenAPI type maps to it (numbers that may come as strings)."""
    return field.openapi_property() if hasattr(field, "openapi_property") else {}


def _operation(meta: dict, path_args) -> dict:
    operation: dict = {
        "summary": meta["summary"],
        "responses": {str(meta["status"]): {"description": "OK", "content": {
            meta["media"]: {"schema": meta["response"]} if meta["response"] is not None else {}}}},
    }
    for status in (400, *meta["errors"]):  # pages answer errors as pages, the rest in the JSON error model
        content = {"text/html": {}} if meta["media"] == "text/html" else {"application/json": {"schema": "Error"}}
        operation["responses"][str(status)] = {"description": "Error", "content": content}
    parameters = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in sorted(path_args)]
    if meta["query"] is not None:
        parameters.append({"in": "query", "schema": meta["query"]})
    if parameters:
        operation["parameters"] = parameters
    if meta["request"] is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": meta["request"]}}}
    if meta["session"]:
        operation["security"] = [{"session": []}]
    if meta["scope"]:
        operation["security"] = [{"subscriptionKey": [meta["scope"]]}, {"session": []}]
        if meta["public"]:
            operation["security"].append({"wallet": []})
        operation["responses"].setdefault("401", {"description": "Unauthorized",
                                                  "content": {"application/json": {"schema": "Error"}}})
        operation["responses"].setdefault("403", {"description": "Forbidden",
                                                  "content": {"application/json": {"schema": "Error"}}})
    return operation
