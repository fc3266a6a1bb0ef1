"""API tokens: random bearer secrets, stored only as SHA-256 hashes outside data/.

`tokens.json` in the secrets folder lists each token's id, name, role, department,
hash, creation and revocation time. It is rewritten crash-safely (temp file, fsync,
rename, fsync folder) under a lock, and re-read by running servers when it changes, so
`shoufa token create/revoke` takes effect without a restart. A token itself is shown
once, at creation, and never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from . import locks
from .clock import Clock, SystemClock, format_ts
from .model import Actor, Role

log = logging.getLogger(__name__)

TOKEN_ROLES = (Role.OPERATOR, Role.DEPARTMENT, Role.SUPERVISOR, Role.EDITOR, Role.ADMIN)
MAX_TOKEN_LENGTH = 256


class TokenError(ValueError):
    """A token cannot be created or revoked as asked."""


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^tok_[0-9a-f]{12}$")
    name: str = Field(min_length=1, max_length=80)
    role: Role
    department: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: datetime
    revoked: datetime | None = None

    @field_serializer("created", "revoked")
    def _ts(self, value: datetime | None) -> str | None:
        return format_ts(value) if value else None

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's record and the workflow actor it stands for."""

    token_id: str
    actor: Actor

    @property
    def role(self) -> Role:
        return self.actor.role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenStore:
    def __init__(self, secrets_dir: Path, *, clock: Clock | None = None) -> None:
        self.dir = Path(secrets_dir)
        self.path = self.dir / "tokens.json"
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._records: list[TokenRecord] = []

    # -- reading -------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> list[TokenRecord]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        return [TokenRecord.model_validate(r) for r in raw.get("tokens", [])]

    def records(self) -> list[TokenRecord]:
        """The current records, re-read when the file changed."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._records = self._load()
                self._stamp = stamp
            return list(self._records)

    def verify(self, token: str) -> TokenRecord | None:
        """Return the active record of `token`, comparing every hash in constant time."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        found = None
        for rec in self.records():
            if hmac.compare_digest(rec.sha256, digest) and rec.active:
                found = rec
        return found

    # -- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[TokenRecord]]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locks.hold([self.dir / "tokens.lock"]):
            yield self._load()

    def _save(self, records: list[TokenRecord]) -> None:
        payload = (
            orjson.dumps(
                {"tokens": [r.model_dump(mode="json") for r in records]}, option=orjson.OPT_INDENT_2
            )
            + b"\n"
        )
        tmp = self.dir / f".tokens.json.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def create(
        self, *, name: str, role: Role | str, department: str | None = None
    ) -> tuple[TokenRecord, str]:
        """Create a token; return its record and the token (shown once, never stored)."""
        role = Role(role)
        if role not in TOKEN_ROLES:
            raise TokenError(f"role must be one of: {', '.join(TOKEN_ROLES)}")
        if (role == Role.DEPARTMENT) != bool(department):
            raise TokenError("a department token needs --department; other roles take none")
        name = name.strip()
        token = secrets.token_urlsafe(32)
        with self._locked() as records:
            if any(r.name == name and r.active for r in records):
                raise TokenError(f"an active token named {name!r} exists; revoke it first")
            rec = TokenRecord(
                id=f"tok_{secrets.token_hex(6)}",
                name=name,
                role=role,
                department=department,
                sha256=hash_token(token),
                created=self.clock.now(),
            )
            self._save([*records, rec])
        log.debug("created %s token %s (%s)", role, rec.id, name)
        return rec, token

    def revoke(self, name_or_id: str) -> TokenRecord:
        with self._locked() as records:
            hits = [i for i, r in enumerate(records) if r.active and name_or_id in (r.id, r.name)]
            if not hits:
                raise TokenError(f"no active token with name or id {name_or_id!r}")
            i = hits[0]
            records[i] = records[i].model_copy(update={"revoked": self.clock.now()})
            self._save(records)
        log.debug("revoked token %s (%s)", records[i].id, records[i].name)
        return records[i]


def principal_for(rec: TokenRecord) -> Principal:
    return Principal(
        token_id=rec.id, actor=Actor(role=rec.role, department=rec.department, name=rec.name)
    )
