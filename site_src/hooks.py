"""mkdocs hooks of the shoufa shell (loaded through `hooks:` in mkdocs.yml)."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ASSETS_DIR = Path(__file__).parent / "assets"


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Publish site_src/assets/ as /assets/ next to the theme's own assets."""
    for path in sorted(p for p in ASSETS_DIR.rglob("*") if p.is_file()):
        src_uri = "assets/" + path.relative_to(ASSETS_DIR).as_posix()
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, src_uri, abs_src_path=str(path)))
    return files
