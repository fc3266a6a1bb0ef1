"""The `shoufa` command line: thin commands that parse, call one function, map errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from .settings import Settings

log = logging.getLogger("shoufa")


def _progress(total: int, label: str):
    """A rich progress bar on a terminal; silent in CI or when piped."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None, lambda n: None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(label, total=total)
    return bar, lambda n: bar.advance(task, n)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .catalog import load_catalog
    from .demo import DemoPlan, generate

    catalog = load_catalog(settings.catalog_path)
    end = datetime.fromisoformat(args.end).astimezone(UTC) if args.end else datetime.now(UTC)
    plan = DemoPlan(tickets=args.tickets, days=args.days, seed=args.seed, end=end, burst=not args.no_burst)
    bar, advance = _progress(args.tickets, "demo tickets")
    started = datetime.now(UTC)
    if bar:
        with bar:
            n = generate(data_dir=settings.data_dir, catalog_dir=settings.catalog_path, plan=plan,
                         workers=args.workers, progress=advance)
    else:
        n = generate(data_dir=settings.data_dir, catalog_dir=settings.catalog_path, plan=plan, workers=args.workers)
    secs = (datetime.now(UTC) - started).total_seconds()
    print(f"wrote {n} demo tickets for {catalog.city.name} into {settings.data_dir / 'tickets'} in {secs:.1f} s")
    return 0


def cmd_tick(args: argparse.Namespace, settings: Settings) -> int:
    from .service import Service

    svc = Service.from_settings(settings)
    changed = svc.tick_all()
    print(f"applied deadlines and supervision: {changed} ticket(s) changed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoufa",
        description="12345·首发: intake/dispatch API and public disclosure site of a 12345 hotline.",
    )
    p.add_argument("--data-dir", type=Path, help="data folder (default ./data, env SHOUFA_DATA_DIR)")
    p.add_argument("--content-dir", type=Path, help="editors' content (default ./content, env SHOUFA_CONTENT_DIR)")
    p.add_argument("--site-dir", type=Path, help="published site (default ./site, env SHOUFA_SITE_DIR)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="write realistic demo tickets into the data folder")
    d.add_argument("--tickets", type=int, default=3000, help="number of tickets (default 3000)")
    d.add_argument("--days", type=int, default=60, help="spread over this many days up to now (default 60)")
    d.add_argument("--seed", type=int, default=12345, help="random seed; same seed, same data (default 12345)")
    d.add_argument("--end", help="ISO datetime the demo ends at (default: now); pins the data for tests")
    d.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    d.add_argument("--no-burst", action="store_true", help="do not plant the recurring/burst patterns")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("tick", help="apply deadlines and supervision now (for cron)")
    t.set_defaults(func=cmd_tick)

    for register in _EXTRA:
        register(sub)
    return p


_EXTRA: list = []


def _register_optional() -> None:
    """Commands defined next to the code they drive."""
    from . import cli_more

    if not _EXTRA:  # main() may run more than once in a process (tests)
        _EXTRA.extend(cli_more.COMMANDS)


def main(argv: list[str] | None = None) -> int:
    _register_optional()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # One INFO line per HTTP request (the bench's readiness polls and replies):
        # noise in a command's output. Its warnings still show.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = {
        k: v
        for k, v in {"data_dir": args.data_dir, "content_dir": args.content_dir, "site_dir": args.site_dir}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    try:
        return args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: one clear line, not a traceback
        from .catalog import CatalogError

        if isinstance(exc, CatalogError | FileNotFoundError | ValueError) and not args.verbose:
            print(f"shoufa: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
