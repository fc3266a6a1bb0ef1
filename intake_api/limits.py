"""Input limits: body size before buffering, strict JSON parsing, failed-attempt rate limits."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from .errors import ApiError, error_response

MAX_DEPTH = 32


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", f"the request body exceeds {limit} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes: by Content-Length at once, else while streaming.

    Nothing beyond the limit is ever buffered: the receive channel raises as soon as the
    count passes it, and FastAPI hands that error on as a 413.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length == -1:
            await error_response(400, "bad_request", "invalid Content-Length header")(
                scope, receive, send
            )
            return
        if length is not None and length > self.limit:
            await error_response(
                413, "payload_too_large", f"the request body exceeds {self.limit} bytes"
            )(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> AsgiMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: AsgiMessage) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await error_response(413, exc.code, exc.message)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                n = int(value)
            except ValueError:
                return -1
            return n if n >= 0 else -1
    return None


def _depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    msg = Message()
    msg["content-type"] = content_type
    if msg.get_content_maintype() != "application":
        return False
    sub = msg.get_content_subtype()
    charset = msg.get_param("charset") or "utf-8"
    return (sub == "json" or sub.endswith("+json")) and str(charset).lower() in ("utf-8", "utf8")


async def parse_json_body(request: Request) -> None:
    """Parse the body strictly (orjson: no NaN, no lone surrogates, no invalid UTF-8).

    The parsed value is cached on the request, where FastAPI picks it up.
    """
    if not is_json_type(request.headers.get("content-type")):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as application/json (UTF-8)",
            field="Content-Type",
        )
    body = await request.body()
    if not body.strip():
        raise ApiError(422, "validation_error", "a JSON body is required", field="body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at position {exc.pos}",
            field="body",
        ) from None
    if not _depth_ok(value):
        raise ApiError(422, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels", field="body")
    request._json = value  # Starlette's cache: FastAPI's own parser is never reached


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class StrictRoute(APIRoute):
    """A route that refuses unknown query parameters and parses its JSON body strictly."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        original = super().get_route_handler()
        allowed = _query_names(self.dependant)
        has_body = self.body_field is not None

        async def handler(request: Request) -> Response:
            for name in request.query_params:
                if name not in allowed:
                    raise ApiError(
                        422, "validation_error", f"{name}: unknown query parameter", field=name
                    )
            if has_body:
                await parse_json_body(request)
            return await original(request)

        return handler


class FailureLimiter:
    """Count failures per key (client IP) in a sliding window; refuse once over the limit.

    In memory, per worker process: with W workers an attacker gets at most W times the
    limit, which keeps guessing a 80-bit tracking code hopeless.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        now: Callable[[], datetime],
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.now = now
        self.max_keys = max_keys
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, t: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= t - self.window:
            q.popleft()
        return q

    def check(self, key: str) -> None:
        """Raise 429 (with Retry-After) if `key` used up its failures."""
        t = self.now().timestamp()
        with self._lock:
            q = self._recent(key, t)
            if len(q) >= self.limit:
                retry = max(1, math.ceil(q[0] + self.window - t))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many failed attempts; retry in {retry} s",
                    headers={"Retry-After": str(retry)},
                )

    def fail(self, key: str) -> None:
        t = self.now().timestamp()
        with self._lock:
            q = self._recent(key, t)
            q.append(t)
            self._fails[key] = q
            self._fails.move_to_end(key)
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)
