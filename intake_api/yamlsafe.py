"""Safe YAML loading for people-edited files: no tags, no aliases, bounded size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 4 * 1024 * 1024


class YamlError(ValueError):
    """A YAML file that cannot be accepted; the message names the file and place."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases (billion-laughs) and duplicate keys."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed", event.start_mark
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"YAML anchors (&{anchor}) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def loads(text: str, *, source: str) -> Any:
    """Parse YAML text strictly; errors name `source` and the line."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlError(f"{source}: file too large ({len(text)} bytes, max {MAX_YAML_BYTES})")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"{source}:{where}: {problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML's own constructors raise these for values such as the date 2026-13-01.
        raise YamlError(f"{source}: invalid value: {exc}") from None


def load_file(path: Path) -> Any:
    """Read and parse one YAML file strictly."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    return loads(text, source=str(path))
