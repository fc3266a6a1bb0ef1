"""Dependencies of the routes, as named `Annotated` aliases (swap them with dependency_overrides).

They are `async def` because FastAPI runs a plain `def` dependency in the thread pool, a
thread hop per dependency per request; these only read memory (and stat the token file,
re-reading the small file when it changed), so they run on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import Principal, TokenStore, principal_for
from .catalog import Catalog
from .errors import ApiError
from .idempotency import KEY_PATTERN, IdempotencyRecords
from .limits import FailureLimiter
from .model import ID_RE, Role
from .scheduler import Scheduler
from .server import ApiSettings
from .service import Service
from .views import Publisher


@dataclass
class Runtime:
    """Everything a request may need, built once per process by `create_app`."""

    settings: ApiSettings
    service: Service
    tokens: TokenStore
    records: IdempotencyRecords
    publisher: Publisher
    limiter: FailureLimiter
    scheduler: Scheduler
    # The threads that file new tickets, apart from the default pool (see routes/tickets.py).
    writers: CapacityLimiter


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_service(rt: RuntimeDep) -> Service:
    return rt.service


async def get_catalog(rt: RuntimeDep) -> Catalog:
    return rt.service.catalog


ServiceDep = Annotated[Service, Depends(get_service)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

bearer = HTTPBearer(auto_error=False, description="An API token made with `shoufa token create`")

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _authenticate(
    request: Request, rt: Runtime, creds: HTTPAuthorizationCredentials | None
) -> Principal | None:
    if request.headers.get("authorization") is None:
        return None
    if creds is None or not creds.credentials:
        raise ApiError(
            401, "unauthorized", "use 'Authorization: Bearer <token>'", headers=UNAUTHORIZED
        )
    rec = rt.tokens.verify(creds.credentials)
    if rec is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked", headers=UNAUTHORIZED)
    return principal_for(rec)


def _required(principal: Principal | None) -> Principal:
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "this needs an API token ('Authorization: Bearer <token>')",
            headers=UNAUTHORIZED,
        )
    return principal


async def get_principal(
    request: Request,
    rt: RuntimeDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal | None:
    """The caller behind the bearer token; None without an Authorization header."""
    return _authenticate(request, rt, creds)


MaybePrincipal = Annotated[Principal | None, Depends(get_principal)]


async def require_principal(principal: MaybePrincipal) -> Principal:
    return _required(principal)


PrincipalDep = Annotated[Principal, Depends(require_principal)]

INTAKE_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


@dataclass(frozen=True)
class IntakeCaller:
    rt: Runtime
    principal: Principal


async def require_intake(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> IntakeCaller:
    """Filing tickets: the hotline's operators and the channel clients' operator tokens.

    One dependency, not the chain of four the other routes use (runtime, principal,
    required, role): FastAPI resolves each in about 15 microseconds, and at Linyi's peak
    every intake counts (py-spy of the intake route with the filing stubbed out: a
    quarter of the event loop's work was resolving dependencies)."""
    rt: Runtime = request.app.state.runtime
    principal = _required(_authenticate(request, rt, creds))
    if principal.role not in INTAKE_ROLES:
        raise ApiError(403, "forbidden", f"role '{principal.role}' may not file tickets")
    return IntakeCaller(rt, principal)


IntakeDep = Annotated[IntakeCaller, Depends(require_intake)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]

TicketId = Annotated[
    str, Path(pattern=ID_RE.pattern, max_length=20, description="Ticket id, e.g. LY20261128000123")
]
TrackingCode = Annotated[
    str | None,
    Header(
        alias="X-Tracking-Code",
        min_length=1,
        max_length=64,
        description="The citizen's tracking code from intake (acts as the citizen)",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=KEY_PATTERN,
        description="Retry-safe intake: the same key and body file one ticket",
    ),
]
