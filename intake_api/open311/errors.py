"""Open311 errors: a list of {code, description}, with 400, 403 or 404 as the standard says.

GeoReport v2: 404 for resources that do not exist, 403 for a missing or wrong api_key,
400 for any other request that cannot be fulfilled. We add 429 (too many wrong keys)
and 503 (storage or redaction unavailable), in the same shape.
"""

from __future__ import annotations


class Open311Error(Exception):
    """One or more errors answered with one HTTP status."""

    def __init__(self, status: int, *descriptions: str, headers: dict[str, str] | None = None):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions) or ["error"]
        self.headers = headers or {}

    def items(self) -> list[dict[str, object]]:
        return [{"code": self.status, "description": d} for d in self.descriptions]


def bad_request(*descriptions: str) -> Open311Error:
    return Open311Error(400, *descriptions)


def not_found(description: str) -> Open311Error:
    return Open311Error(404, description)


def forbidden(description: str) -> Open311Error:
    return Open311Error(403, description)
