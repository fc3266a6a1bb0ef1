"""mkdocs hooks of the shoufa shell (loaded through `hooks:` in mkdocs.yml)."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
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


# Material treats every <link rel="alternate"> as a translation of the page and fetches
# `sitemap.xml` next to it (its language selector). Our alternates are feeds, in
# /feeds/ and its day folders: two requests per page view that end in 404, and a
# console error. Only links with hreflang (a translation) are meant; the bundle is
# patched to ask for those alone.
ALTERNATE_SELECTOR = b'"link[rel=alternate]"'
TRANSLATIONS_ONLY = b'"link[rel=alternate][hreflang]"'


def on_post_build(*, config: MkDocsConfig) -> None:
    """Patch Material's bundle: no sitemap requests for the pages' feed links."""
    bundles = sorted((Path(config.site_dir) / "assets" / "javascripts").glob("bundle.*.min.js"))
    if len(bundles) != 1:
        raise PluginError(f"expected one Material bundle in assets/javascripts/, found {len(bundles)}")
    code = bundles[0].read_bytes()
    if code.count(ALTERNATE_SELECTOR) != 1:
        raise PluginError(
            f"{bundles[0].name}: Material's selector {ALTERNATE_SELECTOR.decode()} is not there once "
            "(a new Material version?); see on_post_build in site_src/hooks.py"
        )
    bundles[0].write_bytes(code.replace(ALTERNATE_SELECTOR, TRANSLATIONS_ONLY))
