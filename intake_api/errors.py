"""One error shape for the whole API: `{"error": {"code": "...", "message": "..."}}`.

Every failure a client can cause maps to a 4xx with a code and a message naming the
field; storage failures map to 507 (disk full) or 503; nothing else may leak a 500
page or a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .store import CorruptTicket, InvalidTicketId, StoreError, TicketNotFound, is_enospc
from .workflow import WorkflowError

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
    507: "insufficient_storage",
}


class ApiError(StarletteHTTPException):
    """An error answered as JSON; a subclass of HTTPException so FastAPI passes it on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route may answer."""
    return {s: {"model": ErrorBody, "description": STATUS_CODES.get(s, "error")} for s in statuses}


def _safe(text: str, limit: int = 500) -> str:
    """Make text safe to serialise: no lone surrogates, bounded length."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": _safe(message)}
    if field:
        body["field"] = _safe(field, 200)
    if extra:
        body.update(extra)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    # ("body", "content") -> "content"; ("path", "ticket_id") -> "ticket_id"; tagged
    # unions add the tag ("body", "accept", "reason") -> "reason".
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Return (code, field, message) for the first validation error."""
    first = errors[0]
    loc = tuple(first.get("loc") or ())
    if first.get("type") == "json_invalid":
        return "malformed_json", "body", "the body is not valid JSON"
    if first.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        # A tagged union without a valid tag: the tag field itself is wrong.
        loc = (*loc, str((first.get("ctx") or {}).get("discriminator", "")).strip("'"))
    elif len(loc) >= 3 and loc[0] == "body" and loc[1] in _ACTION_TAGS:
        # Drop the tag pydantic puts into the location: ("body", "reply", "text") -> "text".
        loc = (loc[0], *loc[2:])
    field = _field_of(loc)
    msg = str(first.get("msg") or "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if first.get("type") == "missing" and field == "body":
        return "validation_error", "body", "a JSON body is required"
    return "validation_error", field, f"{field}: {msg}"


def _action_tags() -> frozenset[str]:
    from .workflow import RULES

    return frozenset(RULES)


_ACTION_TAGS = _action_tags()


def storage_error(exc: BaseException) -> ApiError:
    if is_enospc(exc):
        return ApiError(
            507,
            "insufficient_storage",
            "the server is out of disk space; nothing was saved",
            headers={"Retry-After": "60"},
        )
    return ApiError(
        503,
        "storage_unavailable",
        "the ticket store could not save durably; nothing was saved",
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every failure into the error shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status_code,
            exc.code,
            exc.message,
            field=exc.field,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 400 and message == "There was an error parsing the body":
            code, message = "malformed_json", "the body could not be parsed as JSON"
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, field, message = describe_validation(list(exc.errors()))
        status = 400 if code == "malformed_json" else 422
        return error_response(status, code, message, field=field)

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        code, field, message = describe_validation(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        )
        return error_response(422, code, message, field=field)

    @app.exception_handler(WorkflowError)
    async def _workflow(_: Request, exc: WorkflowError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(InvalidTicketId)
    async def _bad_id(_: Request, exc: InvalidTicketId) -> JSONResponse:
        return error_response(404, "not_found", "no such ticket")

    @app.exception_handler(TicketNotFound)
    async def _missing(_: Request, exc: TicketNotFound) -> JSONResponse:
        return error_response(404, "not_found", "no such ticket")

    @app.exception_handler(CorruptTicket)
    async def _corrupt(_: Request, exc: CorruptTicket) -> JSONResponse:
        log.error("corrupt ticket file: %s", exc)
        return error_response(
            503, "ticket_unavailable", "this ticket's file failed verification and was set aside"
        )

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        log.error("store error: %s", exc)
        err = storage_error(exc)
        return error_response(err.status_code, err.code, err.message, headers=err.headers)

    @app.exception_handler(OSError)
    async def _os(_: Request, exc: OSError) -> JSONResponse:
        log.error("I/O error: %s", exc)
        err = storage_error(exc)
        return error_response(err.status_code, err.code, err.message, headers=err.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "an unexpected error occurred; it was logged")
