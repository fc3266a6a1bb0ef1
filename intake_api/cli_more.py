"""Commands defined beside the code they drive: each module exposes `register(subparsers)`."""

from __future__ import annotations

import importlib

MODULES = ("intake_api.commands", "generator.commands")


def _load():
    out = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.append(mod.register)
    return out


COMMANDS = _load()
