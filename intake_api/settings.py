"""Settings, validated once at the edge (CLI flags or SHOUFA_* environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUFA_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Tickets, journal and catalog (data/catalog)")
    content_dir: Path = Field(Path("content"), description="What editors write: episodes, reports, pages")
    site_dir: Path = Field(Path("site"), description="The published static site")
    secrets_dir: Path | None = Field(
        None, description="Hashed API tokens and other secrets (default: .shoufa/ beside data_dir)"
    )
    catalog_dir: Path | None = Field(None, description="Catalog folder (default: data_dir/catalog)")
    durable: bool = Field(True, description="fsync every write (turn off only for throwaway data)")

    @property
    def catalog_path(self) -> Path:
        return self.catalog_dir or self.data_dir / "catalog"

    @property
    def secrets_path(self) -> Path:
        return self.secrets_dir or self.data_dir.resolve().parent / ".shoufa"
