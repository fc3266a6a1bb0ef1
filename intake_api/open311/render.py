"""JSON and XML renderings of the same answer, after the Spark convention of Open311.

An answer is a root name plus a value: a list (services, service_requests, errors...) or
a mapping (discovery, service_definition). JSON drops the root; XML keeps it and wraps
every list item in the singular element name (`services` -> `service`,
`service_requests` -> `request`). XML carries the UTF-8 declaration the standard asks for.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
SINGULAR = {
    "services": "service",
    "service_requests": "request",
    "service_requests_updates": "request_update",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "notes": "note",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF): replaced so one bad text can never make a whole answer unparseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def plain(value: Any) -> Any:
    """Models to plain JSON values (None kept: the standard shows absent values as null)."""
    if isinstance(value, BaseModel):
        omit = getattr(value, "omit_if_none", frozenset())
        return {
            k: plain(getattr(value, k))
            for k in type(value).model_fields
            if not (k in omit and getattr(value, k) is None)
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(elem: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        child_name = SINGULAR.get(name, "item")
        for item in value:
            _fill(ET.SubElement(elem, child_name), child_name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(elem, key), key, item)
    else:
        elem.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    elem = ET.Element(root)
    _fill(elem, root, plain(value))
    return (XML_DECLARATION + ET.tostring(elem, encoding="unicode")).encode("utf-8")


def to_json(value: Any) -> bytes:
    return orjson.dumps(plain(value))


def answer(
    fmt: str,
    root: str,
    value: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The response in the requested format (`xml` unless `json`)."""
    if fmt == "json":
        return Response(to_json(value), status_code=status, media_type=JSON_TYPE, headers=headers)
    return Response(to_xml(root, value), status_code=status, media_type=XML_TYPE, headers=headers)
