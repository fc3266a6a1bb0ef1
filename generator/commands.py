"""`shoufa build` and `shoufa watch`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from intake_api.settings import Settings

log = logging.getLogger("shoufa")


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from . import slowlane
    from .build import build, wait_for_trash
    from .config import BuildConfig

    config = BuildConfig.from_settings(settings, drafts=args.drafts, **({"workers": args.workers} if args.workers else {}))
    if args.slow_only:
        from .watch import run_slow_lane

        done = run_slow_lane(config)
        print(f"slow lane: {done.get('search_shards', 0)} search shards, {done.get('exports', 0)} monthly exports, "
              f"{done.get('periodic', 0)} current-period pages")
        return 0
    report = build(config, full=args.full)
    wait_for_trash()  # the replaced site is gone when the command returns
    if args.report_json:
        import dataclasses
        import json

        args.report_json.write_text(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=1))
    print(report.summary())
    for name, secs in report.stages.items():
        print(f"  {name:<10} {secs:7.2f} s")
    if report.ticket_phases and report.tickets:
        steps = ", ".join(f"{k} {v / report.tickets * 1000:.2f}" for k, v in report.ticket_phases.items())
        print(f"  per ticket page, ms of one worker: {steps}")
    if args.internal:
        from .warnings import write_internal

        print(f"  internal early warnings (staff only): {write_internal(config, args.internal)}")
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


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench import run

    sizes = [args.tickets] if args.tickets else [10_000, 100_000]
    run(sizes, json_path=args.json, workers=args.workers, mkdocs_max=args.mkdocs_max,
        changes=args.changes, intake_total=args.intake, keep=args.keep, hugo=not args.no_hugo,
        hugo_max=args.hugo_max, intake_rounds=args.intake_rounds)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="build site/ (incremental; --full: from scratch)")
    b.add_argument("--full", action="store_true", help="rebuild everything into a new folder and swap it in")
    b.add_argument("--drafts", action="store_true", help="include draft episodes (local preview only)")
    b.add_argument("--workers", type=int, help="worker processes for a full build (default: cores)")
    b.add_argument("--no-slow", action="store_true", help="skip the slow lane (search shards, exports)")
    b.add_argument("--slow-only", action="store_true", help="run only the slow lane (search shards, exports, current-period pages)")
    b.add_argument("--report-json", type=Path, help="write the build report (counts, stage times) as JSON")
    b.add_argument("--internal", type=Path, metavar="DIR",
                   help="also write the staff-only early-warning list (with ticket ids) to DIR, outside the site")
    b.set_defaults(func=cmd_build)
    w = sub.add_parser("watch", help="rebuild on every change of data/ or content/")
    w.add_argument("--drafts", action="store_true", help="include draft episodes (local preview only)")
    w.set_defaults(func=cmd_watch)
    be = sub.add_parser("bench", help="the performance benchmark (own data in a temp folder)")
    be.add_argument("--tickets", type=int, help="one size N (default: 10,000 then 100,000)")
    be.add_argument("--json", type=Path, help="write the figures as JSON to this file (after each size, before the clean-up)")
    be.add_argument("--workers", type=int, default=2, help="worker processes for demo data and builds")
    be.add_argument("--mkdocs-max", type=int, default=20_000, help="pages for the mkdocs-material comparison (0: skip)")
    be.add_argument("--changes", type=int, default=50, help="change-to-public samples, after the server start catch-up (0: skip)")
    be.add_argument("--intake", type=int, default=3000, help="intake requests (0: skip); then a third as many with Idempotency-Key, and a third as many repeats of one report (a storm)")
    be.add_argument("--intake-rounds", type=int, default=3,
                    help="runs of each intake kind against one server; the table shows the median run's rate (slowest-fastest)")
    be.add_argument("--keep", action="store_true", help="keep the temporary folder")
    be.add_argument("--no-hugo", action="store_true", help="skip the Hugo comparison")
    be.add_argument("--hugo-max", type=int, default=200_000,
                    help="pages for the Hugo comparison (Hugo keeps every page in memory: ~3 GB per 100,000)")
    be.set_defaults(func=cmd_bench)
