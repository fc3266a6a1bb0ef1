"""`shoufa build` and `shoufa watch`."""

from __future__ import annotations

import argparse
import logging

from intake_api.settings import Settings

log = logging.getLogger("shoufa")


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from . import slowlane
    from .build import build
    from .config import BuildConfig

    config = BuildConfig.from_settings(settings, drafts=args.drafts, **({"workers": args.workers} if args.workers else {}))
    report = build(config, full=args.full)
    print(report.summary())
    for name, secs in report.stages.items():
        print(f"  {name:<10} {secs:7.2f} s")
    if not args.no_slow:
        done = slowlane.run(config)
        if done:
            print(f"  slow lane: {done.get('search_shards', 0)} search shards, {done.get('exports', 0)} monthly exports")
    return 1 if report.held_back or report.invalid else 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    from .config import BuildConfig
    from .watch import Watcher

    watcher = Watcher(BuildConfig.from_settings(settings, drafts=args.drafts))
    print(f"watching {settings.data_dir} and {settings.content_dir}; Ctrl-C to stop")
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop.set()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="build site/ (incremental; --full: from scratch)")
    b.add_argument("--full", action="store_true", help="rebuild everything into a new folder and swap it in")
    b.add_argument("--drafts", action="store_true", help="include draft episodes (local preview only)")
    b.add_argument("--workers", type=int, help="worker processes for a full build (default: cores)")
    b.add_argument("--no-slow", action="store_true", help="skip the slow lane (search shards, exports)")
    b.set_defaults(func=cmd_build)
    w = sub.add_parser("watch", help="rebuild on every change of data/ or content/")
    w.add_argument("--drafts", action="store_true", help="include draft episodes (local preview only)")
    w.set_defaults(func=cmd_watch)
