"""Running the API: its settings and the `shoufa serve` entry point (uvicorn)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

from pydantic import Field

from .settings import Settings

log = logging.getLogger(__name__)


class ApiSettings(Settings):
    """Settings of the HTTP API on top of the shared ones (same SHOUFA_ prefix)."""

    tick_seconds: float = Field(
        60.0, ge=0, description="Run deadlines and supervision every N seconds (0: off)"
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body accepted (413 above)"
    )
    tracking_failures: int = Field(
        10, ge=1, description="Wrong tracking codes allowed per client IP per window"
    )
    tracking_window_seconds: float = Field(
        900.0, gt=0, description="Window of the tracking-code failure limit"
    )
    idempotency_ttl_hours: float = Field(
        24.0, gt=0, description="How long an Idempotency-Key is remembered"
    )
    redaction_seconds: float = Field(0.5, gt=0, description="Time budget of the redactor per text")
    write_threads: int = Field(
        4,
        ge=1,
        le=64,
        description="Threads per worker process that file new tickets (more only contend for Python's lock)",
    )

    @classmethod
    def of(cls, settings: Settings | None) -> ApiSettings:
        if isinstance(settings, ApiSettings):
            return settings
        if settings is None:
            return cls()
        return cls(**settings.model_dump(exclude_unset=False))


def _export(settings: Settings) -> None:
    """Hand the folders to uvicorn's worker processes, which build their own app."""
    os.environ["SHOUFA_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["SHOUFA_CONTENT_DIR"] = str(settings.content_dir.resolve())
    os.environ["SHOUFA_SITE_DIR"] = str(settings.site_dir.absolute())
    if settings.secrets_dir:
        os.environ["SHOUFA_SECRETS_DIR"] = str(settings.secrets_dir.resolve())
    if settings.catalog_dir:
        os.environ["SHOUFA_CATALOG_DIR"] = str(settings.catalog_dir.resolve())


def start_watcher(settings: Settings, *, drafts: bool) -> None:
    """Start the generator's watcher in the background, if the generator has one yet."""
    if importlib.util.find_spec("generator.watch") is None:
        log.warning("generator.watch is not available: the site will not rebuild on changes")
        return
    watch = importlib.import_module("generator.watch")
    watch.start_background(settings, drafts=drafts)


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    drafts: bool = False,
    watch: bool = True,
    log_level: str = "info",
) -> None:
    """Serve the API, the interactive docs and the built site on one port."""
    import uvicorn

    from .service import Service

    if drafts:
        # Draft episodes are previewed from a separate folder, never the public site.
        preview = settings.site_dir.with_name(settings.site_dir.name + "-preview")
        settings = settings.model_copy(update={"site_dir": preview})
        log.info("preview with drafts: building and serving %s", preview)
    _export(settings)
    # Clean temp files a crash left behind, before any worker writes.
    Service.from_settings(settings).store.recover()
    if watch:
        start_watcher(settings, drafts=drafts)
    log.info("serving on http://%s:%d (API /api/v1, docs /docs, site /)", host, port)
    uvicorn.run(
        "intake_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
    )
