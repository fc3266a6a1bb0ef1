"""api_keys of the Open311 client applications, stored only as SHA-256 hashes outside data/.

`open311_keys.json` in the secrets folder (beside the bearer tokens' `tokens.json`) lists
each key's id, the client application's name (recorded as the ticket's `client`), a
contact, the hash, creation and revocation time. The file is rewritten crash-safely
under a lock and re-read by running servers when it changes, so a new or revoked key
takes effect without a restart. A key is shown once, at creation, and never logged.

For the command line: `create_api_key(settings.secrets_path, name=..., contact=...)`.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from .. import locks
from ..auth import hash_token
from ..clock import Clock, SystemClock, format_ts
from ..model import check_text

log = logging.getLogger(__name__)

KEY_PREFIX = "o311_"
MAX_KEY_LENGTH = 256
FILE_NAME = "open311_keys.json"


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked."""


class ApiKeyRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^key_[0-9a-f]{12}$")
    name: str = Field(min_length=1, max_length=64, description="The client application")
    contact: str = Field("", max_length=200, description="Who runs it (never published)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: datetime
    revoked: datetime | None = None

    @field_validator("name", "contact")
    @classmethod
    def _safe(cls, value: str, info) -> str:
        return check_text(value.strip(), what=info.field_name)

    @field_serializer("created", "revoked")
    def _ts(self, value: datetime | None) -> str | None:
        return format_ts(value) if value else None

    @property
    def active(self) -> bool:
        return self.revoked is None


class ApiKeyStore:
    def __init__(self, secrets_dir: Path, *, clock: Clock | None = None) -> None:
        self.dir = Path(secrets_dir)
        self.path = self.dir / FILE_NAME
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._records: list[ApiKeyRecord] = []

    # -- reading -------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> list[ApiKeyRecord]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return []
        return [ApiKeyRecord.model_validate(r) for r in raw.get("keys", [])]

    def records(self) -> list[ApiKeyRecord]:
        """The current records, re-read when the file changed."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp != self._stamp:
                self._records = self._load()
                self._stamp = stamp
            return list(self._records)

    def verify(self, key: str | None) -> ApiKeyRecord | None:
        """The active record of `key`, comparing every hash in constant time."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        digest = hash_token(key)
        found = None
        for rec in self.records():
            if hmac.compare_digest(rec.sha256, digest) and rec.active:
                found = rec
        return found

    # -- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[ApiKeyRecord]]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locks.hold([self.dir / f"{FILE_NAME}.lock"]):
            yield self._load()

    def _save(self, records: list[ApiKeyRecord]) -> None:
        payload = orjson.dumps(
            {"keys": [r.model_dump(mode="json") for r in records]}, option=orjson.OPT_INDENT_2
        )
        tmp = self.dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, payload + b"\n")
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

    def create(self, *, name: str, contact: str = "") -> tuple[ApiKeyRecord, str]:
        """Create a key for a client application; return its record and the key (shown once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        try:
            rec = ApiKeyRecord(
                id=f"key_{secrets.token_hex(6)}",
                name=name.strip(),
                contact=contact,
                sha256=hash_token(key),
                created=self.clock.now(),
            )
        except ValueError as exc:
            raise ApiKeyError(str(exc)) from None
        with self._locked() as records:
            if any(r.name == rec.name and r.active for r in records):
                raise ApiKeyError(f"an active api_key for {rec.name!r} exists; revoke it first")
            self._save([*records, rec])
        log.debug("created Open311 api_key %s (%s)", rec.id, rec.name)
        return rec, key

    def revoke(self, name_or_id: str) -> ApiKeyRecord:
        with self._locked() as records:
            hits = [i for i, r in enumerate(records) if r.active and name_or_id in (r.id, r.name)]
            if not hits:
                raise ApiKeyError(f"no active api_key with name or id {name_or_id!r}")
            i = hits[0]
            records[i] = records[i].model_copy(update={"revoked": self.clock.now()})
            self._save(records)
        log.debug("revoked Open311 api_key %s (%s)", records[i].id, records[i].name)
        return records[i]


def create_api_key(secrets_dir: Path, *, name: str, contact: str = "") -> tuple[ApiKeyRecord, str]:
    """Create an api_key for the Open311 client application `name` (for `shoufa token`)."""
    return ApiKeyStore(secrets_dir).create(name=name, contact=contact)
