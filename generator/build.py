"""The build: load -> redact -> aggregate -> render -> publish, full or incremental.

`build(config)` decides: a full build when there is no live site or state, when the
catalog, the shell (mkdocs.yml, content/pages) or the templates changed, or when asked;
otherwise an incremental build from the store's change journal, which re-renders only
the changed tickets' pages, the listing buckets they were in before and after, the
affected feeds and counters, and one sitemap file per day touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import hashlib
import itertools
import logging
import math
import multiprocessing
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from intake_api.catalog import Catalog
from intake_api.journal import QUARANTINED, START
from intake_api.model import ID_RE
from intake_api.store import CorruptTicket, Store

from . import publish, slowlane
from .config import TEMPLATE_VERSION, TEMPLATES_DIR, BuildConfig, cached_catalog
from .feedlist import render_ticket_feed, ticket_feed_paths
from .leakscan import LeakScanner
from .pages import home, listings, sitemap
from .pages import ticket as ticket_page
from .pages.context import Site
from .public import private_literals
from .redact import RedactionError
from .render import Output
from .rows import Row, buckets, row_for, sitemap_buckets
from .sections import load_sections
from .shell import Layout, build_shell, load_layout
from .state import State, Withheld
from .status import lock_held
from .worker import TicketRenderer, WorkerSetup, init, run_batch, texts_for

log = logging.getLogger(__name__)

BATCH = 1000
# Reasons (prefixes) of tickets left out for a fault, retried by every incremental build.
HELD_BACK = "held back"
INVALID = "invalid"


@dataclass
class BuildReport:
    mode: str
    tickets: int = 0
    written: int = 0
    skipped: int = 0
    deleted: int = 0
    bytes: int = 0
    withheld: int = 0
    held_back: list[tuple[str, str]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    changes: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    # Full builds: the workers' time per step of a ticket, summed over all workers (so
    # up to `workers` times the "tickets" stage); see worker.PHASES.
    ticket_phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    # Incremental builds: a full build is due (the watcher starts it in a process of its own).
    full_due: bool = False
    # Full builds: journal changes published on the live site while it ran, replayed
    # into the new site before the swap.
    caught_up: int = 0

    def summary(self) -> str:
        if self.mode == "none":
            return "nothing to build: " + ("a full build is due" if self.full_due else "the site is up to date")
        parts = [f"{self.mode} build: {self.tickets} ticket pages, {self.written} files written"]
        if self.skipped:
            parts.append(f"{self.skipped} unchanged")
        if self.deleted:
            parts.append(f"{self.deleted} removed")
        if self.withheld:
            parts.append(f"{self.withheld} withheld (confidential/hidden)")
        if self.held_back:
            parts.append(f"{len(self.held_back)} HELD BACK (redaction failed)")
        if self.invalid:
            parts.append(f"{len(self.invalid)} INVALID ticket files skipped")
        if self.caught_up:
            parts.append(f"{self.caught_up} changes made meanwhile caught up")
        out = ", ".join(parts) + f" in {self.seconds:.2f} s"
        if self.mode == "incremental" and self.stages:  # where a slow change spent its time
            out += " (" + ", ".join(f"{k} {v:.3f}" for k, v in self.stages.items()) + ")"
        return out


class _Timer:
    def __init__(self, report: BuildReport) -> None:
        self.report = report

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.report.stages[name] = self.report.stages.get(name, 0.0) + time.perf_counter() - t0


def _fingerprint(config: BuildConfig) -> str:
    """What, when changed, calls for a full build: catalog, shell, templates, code version.

    The files' contents count, not where they are or when they were written: the same
    code checked out again, or in another folder, is not a change (a full build takes
    20 minutes at a million tickets).
    """
    h = hashlib.sha256(TEMPLATE_VERSION.encode())
    h.update(_file_digest(config.mkdocs_yml, "mkdocs.yml"))
    roots = {"catalog": config.catalog_dir, "pages": config.content_dir / "pages",
             "templates": TEMPLATES_DIR, "site_src": config.mkdocs_yml.parent / "site_src"}
    for name, root in roots.items():
        if root.is_dir():
            for p in sorted(p for p in root.rglob("*") if p.is_file()):
                h.update(_file_digest(p, f"{name}/{p.relative_to(root).as_posix()}"))
    h.update(str(config.drafts).encode())
    return h.hexdigest()


def _content_fingerprint(config: BuildConfig) -> str:
    """Editors' content outside the shell (episodes, reports, top.yaml): sections re-render on change."""
    h = hashlib.sha256()
    root = config.content_dir
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if p.is_file() and "pages" not in rel.parts[:1]:
                h.update(_file_digest(p, rel.as_posix()))
    return h.hexdigest()


_DIGESTS: dict[Path, tuple[int, int, bytes]] = {}


def _file_digest(path: Path, name: str) -> bytes:
    """The name and a hash of the content of one input file (b"" if it is gone).

    Read again only when its size or mtime changed: each build fingerprints its inputs,
    and a watcher runs for months.
    """
    try:
        st = path.stat()
        seen = _DIGESTS.get(path)
        if seen is not None and seen[:2] == (st.st_size, st.st_mtime_ns):
            digest = seen[2]
        else:
            digest = hashlib.sha256(path.read_bytes()).digest()
            _DIGESTS[path] = (st.st_size, st.st_mtime_ns, digest)
    except OSError:
        return b""
    return name.encode() + b"\0" + digest


@contextlib.contextmanager
def _lock(config: BuildConfig, name: str = "build") -> Iterator[None]:
    """A build lock, held across processes (flock).

    "build": one build at a time writes the live site and its state. "full": one full
    build at a time; it holds "build" only for its last catch-up and the swap, so the
    changes that come in while it renders keep reaching the live site. The slow lane has
    a lock of its own so that it never delays a change.
    """
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with open(config.state_dir / f"{name}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def full_build_running(config: BuildConfig) -> bool:
    """Whether a full build (in any process, this one included) is under way."""
    return lock_held(config.state_dir / "full.lock")


def full_build_due(config: BuildConfig) -> bool:
    """Whether the site needs a full build (no site yet, or its inputs changed)."""
    with _lock(config):
        state, _, due = _plan(config)
        if state is not None:
            state.close()
        return due


def build(config: BuildConfig, *, full: bool = False, incremental_only: bool = False) -> BuildReport:
    """Bring the site up to date with data/ and content/.

    `incremental_only` (the watcher, which runs full builds in a process of its own):
    publish the journal's changes on the live site if it can be built incrementally,
    even when a full build is due (its `full_due` says so); never start one.
    """
    report = _build(config, full=full, incremental_only=incremental_only)
    if report.mode == "full":
        # The replaced site is deleted after the lock is released, in a thread of its own:
        # a change arriving meanwhile is built at once.
        remove_trash_later(config)
    return report


_TRASH_THREADS: list[threading.Thread] = []


def remove_trash_later(config: BuildConfig) -> None:
    """Delete replaced build folders in a background thread (see `publish.remove_trash`).

    A daemon thread: a server that stops mid-deletion does not wait minutes for it, and
    what it left is deleted after the next full build or watcher start. The command line
    waits for it (`wait_for_trash`) so that `shoufa build --full` leaves no old folder.
    """
    t = threading.Thread(target=publish.remove_trash, args=(config.site_dir,), name="site-trash", daemon=True)
    _TRASH_THREADS[:] = [*(x for x in _TRASH_THREADS if x.is_alive()), t]  # a watcher runs for months
    t.start()


def wait_for_trash() -> None:
    """Wait until the deletions `remove_trash_later` started are done."""
    while _TRASH_THREADS:
        _TRASH_THREADS.pop().join()


def _build(config: BuildConfig, *, full: bool, incremental_only: bool = False) -> BuildReport:
    t_enter = time.perf_counter()
    if not full:
        with _lock(config):
            catalog = cached_catalog(config.catalog_dir)
            state, live, due = _plan(config)
            if state is not None:
                try:
                    # A full build is due (a template or the catalog changed) but runs
                    # elsewhere, or is the watcher's to start: the live site still gets
                    # every change meanwhile, rendered by the code as it is now.
                    if not due or incremental_only or full_build_running(config):
                        report = _incremental(config, catalog, state, live, t_enter)
                        report.full_due = due
                        return report
                finally:
                    state.close()
            if incremental_only:
                return BuildReport(mode="none", full_due=True)
    report = _full(config, cached_catalog(config.catalog_dir), forced=full)
    if report.mode == "none":  # another process's full build was done first: publish what came since
        return _build(config, full=False)
    return report


def _plan(config: BuildConfig) -> tuple[State | None, Path | None, bool]:
    """(the state, the live folder, whether a full build is due); no state when the site
    cannot be built incrementally at all. Called holding the build lock."""
    state_path = config.state_dir / "state.sqlite"
    live = publish.live_root(config.site_dir)
    if live is None or not state_path.exists() or not (config.state_dir / "layout.json").exists():
        return None, live, True
    state = State(state_path)
    # A build killed between saving its state and the swap left a state that describes
    # a folder which never went live: only a full build is safe.
    if not state.compatible or state.get_meta("site_root") != live.name:
        state.close()
        return None, live, True
    return state, live, state.get_meta("fingerprint") != _fingerprint(config)


def warm_up(config: BuildConfig) -> None:
    """Pay a process's one-time costs before the first change arrives: imports (pandas,
    the sections), the catalog, every template compiled, the editors' content parsed.

    The watcher calls it at start; without it the first change after a restart waited
    about 0.4 s longer than the next ones (measured at 10,000 tickets). It also starts
    reading the build state into the system's file cache (see `prefetch`).
    """
    from . import profiles  # noqa: F401 - imports pandas, which the department pages use
    from .render import environment

    remove_trash_later(config)  # what a server stopped mid-deletion left behind

    state = config.state_dir / "state.sqlite"
    threading.Thread(target=prefetch, args=([state, state.with_name(state.name + "-wal")],),
                     name="state-prefetch", daemon=True).start()
    cached_catalog(config.catalog_dir)
    load_sections()
    env = environment()
    for name in env.list_templates(filter_func=lambda n: n.endswith((".html", ".xml", ".txt"))):
        env.get_template(name)
    _content(config)


def prefetch(paths: Iterable[Path]) -> int:
    """Read files through once, so that the system's file cache holds them; return the bytes read.

    The warm-up reads the build state this way (1.2 GB at a million tickets, a few
    seconds in the background). Every change reads rows from all over it; after the
    state fell out of the cache (a restart after a full build wrote 46 GB of pages),
    each change waited for the disk: measured at 100,000 tickets with the cache
    dropped, 0.29-0.46 s a change instead of 0.17-0.25 s once the state was read.
    """
    buf = bytearray(1 << 20)
    total = 0
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    total += n
        except FileNotFoundError:
            continue
    return total


# -- full build ------------------------------------------------------------------


def _batches(store: Store) -> Iterator[list[Path]]:
    batch: list[Path] = []
    for p in store.paths():
        batch.append(p)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _backlinks(config, store, state, setup, scanner) -> list[Output]:
    """The ticket pages (and feeds) whose "首发聚焦" links this build's episode coverage
    changed, rendered again; the links they now show are remembered.

    A build renders ticket pages with the coverage of the previous build (coverage by
    query needs the rows this build is making); the few pages whose links it changed
    (a new ticket a query matches, an older one it pushed out of the query's limit) are
    redone in the same build, not left to the next change, which would pay for them.
    """
    try:
        from .episodes import covered_in, episodes_by_ticket, remember_links
    except ModuleNotFoundError:
        return []
    old = setup.episodes_by_ticket
    new = episodes_by_ticket(config, covered_in(state))
    stale = sorted(t for t in set(old) | set(new) if old.get(t) != new.get(t) and state.is_public(t))
    outs: list[Output] = []
    if stale:
        renderer = TicketRenderer(dataclasses.replace(setup, episodes_by_ticket=new), state=state)
        for tid in stale:
            try:
                ticket = store.read_path(store.path_for(tid))
                public = renderer.publicize(ticket)
            except (CorruptTicket, RedactionError):
                continue
            scanner.literals[tid] = private_literals(ticket)
            outs += [ticket_page.render(renderer.site, public), *render_ticket_feed(renderer.site, public)]
    remember_links(state, new)
    return outs


def _covered_meta(state: State) -> str | None:
    """The episodes' covered tickets as the state keeps them (changed by a query's new match)."""
    try:
        from .episodes import COVERED_META
    except ModuleNotFoundError:
        return None
    return state.get_meta(COVERED_META)


def _relinked(state: State, index: dict) -> list[str]:
    try:
        from .episodes import relinked_tickets
    except ModuleNotFoundError:
        return []
    return relinked_tickets(state, index)


def _content(config: BuildConfig) -> dict:
    """Editors' content the ticket pages refer to (episodes covering each ticket)."""
    try:
        from .episodes import episodes_by_ticket
    except ModuleNotFoundError:
        return {}
    return episodes_by_ticket(config)


def _full(config: BuildConfig, catalog: Catalog, *, forced: bool = True) -> BuildReport:
    """Render the whole site into a new folder and swap it in.

    It holds the full-build lock throughout, and the build lock only at the end: the
    changes that come in meanwhile are published on the live site by incremental builds
    (a full build takes 20 minutes at a million tickets), and replayed into the new
    folder before it goes live, so the public never sees a change undone. Unless
    `forced`, it first checks that a full build is still due (another may have just
    done it).
    """
    with _lock(config, "full"):
        if not forced and not full_build_due(config):
            return BuildReport(mode="none")
        return _full_locked(config, catalog)


def _full_locked(config: BuildConfig, catalog: Catalog) -> BuildReport:
    t_start = time.perf_counter()
    report = BuildReport(mode="full")
    timer = _Timer(report)
    # The inputs as this build reads them: an edit made while it runs calls for another.
    fingerprint, content_fp = _fingerprint(config), _content_fingerprint(config)
    store = Store(config.data_dir, prefix=catalog.city.id_prefix, durable=False)
    # States of killed builds (any process: we hold the full-build lock, nobody else writes one).
    for stale in config.state_dir.glob("state.sqlite.new-*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    tmp_state = config.state_dir / f"state.sqlite.new-{os.getpid()}"
    state = State(tmp_state, bulk=True)
    staging: Path | None = None
    results = None
    try:
        # In the try: a build stopped (SIGTERM, Ctrl-C) right after making its folder removes it.
        staging = publish.new_staging(config.site_dir)
        with timer.stage("shell"):
            layout = build_shell(config_file=config.mkdocs_yml, out_dir=staging, base_url=config.base_url)
        cursor = store.journal.head()  # changes after this point are replayed by the next build
        now = config.clock_now()
        setup = WorkerSetup(
            data_dir=config.data_dir, catalog_dir=config.catalog_dir, out_dir=staging, layout=layout,
            base=config.base_url, now=now, episodes_by_ticket=_content(config),
            site_url=config.site_url or catalog.city.site_url, content_dir=config.content_dir, drafts=config.drafts,
        )
        scanner = LeakScanner(withheld=set())
        with timer.stage("tickets"):
            state.begin()
            results = _run_workers(setup, _batches(store), config.workers)
            for res in results:
                state.put_rows((Row(*r) for r in res.rows), res.texts)
                for tid, reason in res.withheld:
                    state.withhold(tid, reason)
                    scanner.withheld.add(tid)
                report.tickets += len(res.rows)
                report.withheld += len(res.withheld)
                report.held_back += res.held_back
                report.invalid += res.invalid
                report.bytes += res.bytes
                for phase, seconds in res.phases.items():
                    report.ticket_phases[phase] = report.ticket_phases.get(phase, 0.0) + seconds
                scanner.findings += res.findings
                scanner.phones |= res.phones
            state.index_counters()
            state.commit()
        for tid, reason in report.held_back:
            state.withhold(tid, f"{HELD_BACK}: {reason}")
            scanner.withheld.add(tid)
        for path, reason in report.invalid:
            if ID_RE.fullmatch(Path(path).stem):
                state.withhold(Path(path).stem, f"{INVALID}: {reason}")
        site = _site(config, catalog, state, layout, now, setup.episodes_by_ticket)
        writer = publish.Writer(staging, staging=True)
        with timer.stage("analytics"):
            # Aggregations the department pages (profiles) and the sections share.
            for section in load_sections():
                prepare = getattr(section, "prepare", None)
                if prepare is not None:
                    prepare(site)
        # The listing pages and the exports are made in worker processes while this one
        # makes the sections and feeds: "listings" is the time of the whole overlap.
        t_listings = time.perf_counter()
        keys = list(_listing_keys(site))
        months = slowlane.export_months(site)
        with _listings(site, staging, tmp_state, scanner, keys, months, config.workers) as listing_pages:
            with timer.stage("sections"):
                home.refresh_extras(site)
                for section in load_sections():
                    for out in section.full(site):
                        scanner.check(out)
                        writer.write(out)
            with timer.stage("sections"):
                for out in _backlinks(config, store, state, setup, scanner):
                    scanner.check(out)
                    writer.write(out)
            with timer.stage("feeds"):
                from .pages import feeds as feed_pages

                for out in feed_pages.render_all(site):
                    scanner.check(out)
                    writer.write(out)
            with timer.stage("sections"):  # the open-data and search pages
                for out in slowlane.render_pages(site):
                    scanner.check(out)
                    writer.write(out)
            for hashes, size, findings in listing_pages:
                writer.hashes.update(hashes)
                writer.written += hashes
                writer.bytes += size
                scanner.findings += findings
            report.stages["listings"] = time.perf_counter() - t_listings
        existing = _existing(staging)
        for out in (home.render(site, existing=existing), *sitemap.render_index(site, existing)):
            scanner.check(out)
            writer.write(out)
        scanner.raise_if_found()
        report.written = len(writer.written) + report.tickets
        report.bytes += writer.bytes
        state.set_meta("cursor", cursor)
        state.set_meta("fingerprint", fingerprint)
        state.set_meta("content_fingerprint", content_fp)
        state.set_meta("template_version", TEMPLATE_VERSION)
        state.set_meta("site_root", staging.name)
        state.set_outputs(writer.hashes.items())
        state.close()
        state = State(tmp_state)
        with timer.stage("catch-up"):
            # The changes made while this build ran, into the new folder: most of them
            # while the live site still takes changes, the last few holding the lock.
            report.caught_up += _catch_up(config, catalog, state, staging, layout)
        with _lock(config), timer.stage("catch-up"):
            report.caught_up += _catch_up(config, catalog, state, staging, layout)
            state.close()
            layout.save(config.state_dir / "layout.json")
            # Publish: state first (so an incremental build sees the new rows), then the site.
            os.replace(tmp_state, config.state_dir / "state.sqlite")
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{config.state_dir / 'state.sqlite'}{suffix}").unlink()
            publish.swap(config.site_dir, staging)
    except BaseException:
        if results is not None:
            results.close()  # its workers stop before their folder is removed
        state.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{tmp_state}{suffix}").unlink()
        raise
    report.seconds = time.perf_counter() - t_start
    _log_report(report)
    return report


def _run_workers(setup: WorkerSetup, batches: Iterable[list[Path]], workers: int):
    if workers <= 1:
        init(setup)
        for b in batches:
            yield run_batch(b)
        return
    pool = ProcessPoolExecutor(workers, initializer=init, initargs=(setup,))
    try:
        # Keep a bounded number of batches in flight: memory stays flat at any N.
        pending = []
        for b in batches:
            pending.append(pool.submit(run_batch, b))
            if len(pending) >= workers * 3:
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()
    finally:
        # Also when the build stops early (closed by its caller): no worker may still be
        # writing into the folder the build then removes.
        pool.shutdown(wait=True, cancel_futures=True)


def _site(config, catalog, state, layout, now, episodes) -> Site:
    return Site(
        layout=layout, catalog=catalog, state=state, now=now, base=config.base_url,
        site_url=config.site_url or catalog.city.site_url, episodes_by_ticket=episodes,
        content_dir=config.content_dir, drafts=config.drafts,
    )


def _listing_keys(site: Site) -> Iterator[str]:
    """Every listing page of a full build, as the bucket keys `_render_bucket` renders."""
    st = site.state
    for r in st.query("SELECT DISTINCT day, chunk FROM rows ORDER BY day, chunk"):
        yield f"day/{r['day']}/{r['chunk']}"
    for r in st.query("SELECT DISTINCT status, day, chunk FROM rows ORDER BY status, day, chunk"):
        yield f"status/{r['status']}/{r['day']}/{r['chunk']}"
    for status in ("open", "overdue", "closed"):
        yield f"status/{status}"
    for dim, (column, _) in listings.DIMS.items():
        for r in st.query(f"SELECT DISTINCT {column} AS v, day FROM rows WHERE {column} IS NOT NULL ORDER BY v, day"):
            yield f"{dim}/{r['v']}/{r['day']}"
        values = [r["v"] for r in st.query(f"SELECT DISTINCT {column} AS v FROM rows WHERE {column} IS NOT NULL ORDER BY v")]
        if dim == "department":
            values = sorted(set(values) | set(site.catalog.department_by_code))
        for v in values:
            yield f"{dim}/{v}"
    yield "tickets"
    yield "departments"
    for r in st.query("SELECT DISTINCT day FROM rows ORDER BY day"):
        yield f"sitemap/{r['day']}"


ListingResult = tuple[dict[str, str], int, list[str]]  # (hashes of the files written, bytes, leak findings)
_LISTING: tuple[Site, LeakScanner, Path] | None = None
LISTING_BATCH = 40
LISTING_NICE = 5  # the listing workers' niceness, above the build process's


@contextlib.contextmanager
def _listings(site: Site, root: Path, state_path: Path, scanner: LeakScanner, keys: list[str],
              months: list[str], workers: int) -> Iterator[Iterator[ListingResult]]:
    """Render, scan and write the listing pages and the monthly exports of a full build;
    give what each batch wrote.

    Worker processes, forked from this one (so they share the leak scanner's sets of
    withheld ids and phone numbers without copying them), read the committed state on
    their own connection, while this process goes on with other work (sections, feeds).
    The exports go first, the largest month first: each is one long task (a month of
    100,000 tickets took 8 s), and the short listing batches fill in around them. With
    one worker, everything is done here: the listings at once, the exports as they are
    asked for.
    """
    global _LISTING
    if workers <= 1:
        _LISTING = (site, scanner, root)
        try:
            yield itertools.chain([_listing_batch(keys)], map(_export_month, months))
        finally:
            _LISTING = None
        return
    # The workers share this process's memory until they write to it; the collector would
    # write to every object it visits (the analytics frame's strings, the scanner's
    # sets), so the objects made so far are kept out of its sight while they run.
    gc.freeze()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_listing_init, initargs=(site, root, state_path, scanner))
    try:
        # Interleaved batches: the big day pages and the small value pages spread evenly.
        n = max(1, math.ceil(len(keys) / LISTING_BATCH))
        futures = [pool.submit(_export_month, m) for m in months]
        futures += [pool.submit(_listing_batch, keys[i::n]) for i in range(n)]
        yield (f.result() for f in futures)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


def _listing_init(site: Site, root: Path, state_path: Path, scanner: LeakScanner) -> None:
    global _LISTING
    # The build's own process, making the sections meanwhile, goes first: the workers
    # fill the cores it leaves. Three processes on two cores at equal priority gave the
    # sections two thirds of a core (45 s of the million-ticket analytics stage's 61).
    os.nice(LISTING_NICE)
    # The build's own site, inherited by the fork, on a connection of this process's own.
    _LISTING = (dataclasses.replace(site, state=State.reader(state_path)), scanner, root)


def _listing_batch(keys: list[str]) -> ListingResult:
    assert _LISTING is not None
    site, scanner, root = _LISTING
    scanner = dataclasses.replace(scanner, findings=[])
    writer = publish.Writer(root, staging=True)
    for key in keys:
        out = _render_bucket(site, key)
        if out is not None:
            scanner.check(out)
            writer.write(out)
    return writer.hashes, writer.bytes, scanner.findings


def _export_month(month: str) -> ListingResult:
    """One month's CSV and JSON exports (outside the build's output hashes, as always)."""
    assert _LISTING is not None
    site, scanner, root = _LISTING
    scanner = dataclasses.replace(scanner, findings=[])
    slowlane.write_exports(site, month, root, scanner)
    return {}, 0, scanner.findings


def _value_index(site: Site, dim: str, value: str) -> Output:
    from .pages import feeds as feed_pages

    profile = ""
    if dim == "department":
        with contextlib.suppress(ModuleNotFoundError):
            from .profiles import department_profile

            profile = department_profile(site, value)
    return listings.render_value_index(site, dim, value, profile=profile, feed=feed_pages.link_for(site, dim, value))


def _existing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.glob("*/index.html")} | {"index.html"}


def _render_bucket(site: Site, key: str) -> Output | None:
    parts = key.split("/")
    kind = parts[0]
    if kind == "day":
        return listings.render_day(site, parts[1], int(parts[2]))
    if kind == "status":
        if len(parts) == 2:
            return listings.render_status_index(site, parts[1])
        return listings.render_status_day(site, parts[1], parts[2], int(parts[3]))
    if kind in listings.DIMS:
        if len(parts) == 2:
            return _value_index(site, kind, parts[1])
        return listings.render_value_day(site, kind, parts[1], parts[2])
    if kind == "tickets":
        return listings.render_tickets_index(site)
    if kind == "departments":
        return listings.render_departments_index(site)
    if kind == "sitemap":
        return sitemap.render_day(site, parts[1])
    return None  # "home" is rendered last, with the set of existing pages


def _bucket_page(key: str) -> str | None:
    """The page of a day-level listing bucket (None for other keys)."""
    parts = key.split("/")
    if parts[0] == "day" and len(parts) == 3:
        return listings.day_path(parts[1], int(parts[2])) + "index.html"
    if parts[0] == "status" and len(parts) == 4:
        return listings.status_path(parts[1], parts[2], int(parts[3])) + "index.html"
    if parts[0] in listings.DIMS and len(parts) == 3:
        return listings.value_path(parts[0], parts[1], parts[2]) + "index.html"
    return None


def _appeared_or_emptied(state: State, keys: set[str]) -> set[str]:
    """The day-level buckets among `keys` whose page comes into being or goes away."""
    out = set()
    for key in keys:
        page = _bucket_page(key)
        if page is not None and (state.output_hash(page) is not None) == (_empty_bucket_path(state, key) is not None):
            out.add(key)
    return out


def _linked_buckets(state: State, keys: set[str]) -> set[str]:
    """The pages that link to the given day buckets, for those that appear or empty: the
    days next to it (prev/next links) and the other pages of the same day (the pager of
    a day cut in pages of CHUNK tickets)."""
    out: set[str] = set()
    for key in _appeared_or_emptied(state, keys):
        parts = key.split("/")
        if parts[0] == "day" and len(parts) == 3:
            where, params, day, make = "1", (), parts[1], lambda d, c: f"day/{d}/{c}"
        elif parts[0] == "status" and len(parts) == 4:
            where, params, day = "status=?", (parts[1],), parts[2]
            make = lambda d, c, s=parts[1]: f"status/{s}/{d}/{c}"  # noqa: E731
        elif parts[0] in listings.DIMS and len(parts) == 3:
            where, params, day = f"{listings.DIMS[parts[0]][0]}=?", (parts[1],), parts[2]
            make = lambda d, c, k=parts[0], v=parts[1]: f"{k}/{v}/{d}"  # noqa: E731
        else:
            continue
        same_day = (day,) if len(parts) > 3 or parts[0] == "day" else ()  # the pages with a pager
        for near in (
            state.query(f"SELECT max(day) AS d FROM rows WHERE {where} AND day < ?", (*params, day))[0]["d"],
            state.query(f"SELECT min(day) AS d FROM rows WHERE {where} AND day > ?", (*params, day))[0]["d"],
            *same_day,
        ):
            if near:
                chunks = state.query(f"SELECT DISTINCT chunk FROM rows WHERE {where} AND day=?", (*params, near))
                out |= {make(near, r["chunk"]) for r in chunks}
    return out


def _empty_bucket_path(state: State, key: str) -> str | None:
    """The page of a listing bucket that has no public ticket left (None if it has some)."""
    parts = key.split("/")
    kind = parts[0]
    if kind == "day" and len(parts) == 3:
        where, params, path = "day=? AND chunk=?", (parts[1], int(parts[2])), listings.day_path(parts[1], int(parts[2]))
    elif kind == "status" and len(parts) == 4:
        where, params = "status=? AND day=? AND chunk=?", (parts[1], parts[2], int(parts[3]))
        path = listings.status_path(parts[1], parts[2], int(parts[3]))
    elif kind in listings.DIMS and len(parts) == 3:
        where, params = f"{listings.DIMS[kind][0]}=? AND day=?", (parts[1], parts[2])
        path = listings.value_path(kind, parts[1], parts[2])
    elif kind in ("category", "area") and len(parts) == 2:  # departments keep their page
        where, params, path = f"{listings.DIMS[kind][0]}=?", (parts[1],), listings.value_path(kind, parts[1])
    elif kind == "sitemap" and len(parts) == 2:
        return None if state.query("SELECT 1 FROM rows WHERE day=? LIMIT 1", (parts[1],)) else sitemap.day_file(parts[1])
    else:
        return None
    if state.query(f"SELECT 1 FROM rows WHERE {where} LIMIT 1", params):
        return None
    return path + "index.html"


def _empty_feed(state: State, path: str) -> bool:
    """Whether a category or area feed has no public ticket left (a full build makes none)."""
    m = re.fullmatch(r"feeds/(category|area)-(.+)\.(?:rss|atom)\.xml", path)
    if m is None:
        return False
    return not state.query(f"SELECT 1 FROM rows WHERE {listings.DIMS[m[1]][0]}=? LIMIT 1", (m[2],))


# -- incremental build -------------------------------------------------------------


def _catch_up(config: BuildConfig, catalog: Catalog, state: State, root: Path, layout: Layout) -> int:
    """Replay the journal since the state's cursor into a full build's folder; return the
    number of changes."""
    t = time.perf_counter()
    return _incremental(config, catalog, state, root, t, layout=layout, mode="catch-up").changes


def _incremental(config: BuildConfig, catalog: Catalog, state: State, live: Path, t_enter: float, *,
                 layout: Layout | None = None, mode: str = "incremental") -> BuildReport:
    t_start = time.perf_counter()
    report = BuildReport(mode=mode)
    # The build lock, the catalog and the state's checks, before this function.
    report.stages["open"] = t_start - t_enter
    timer = _Timer(report)
    store = Store(config.data_dir, prefix=catalog.city.id_prefix, durable=False)
    cursor = state.get_meta("cursor") or START
    with timer.stage("journal"):
        changes, new_cursor = store.journal.read_since(cursor)
    report.changes = len(changes)
    content_fp = _content_fingerprint(config)
    content_changed = content_fp != state.get_meta("content_fingerprint")
    if not changes and not content_changed:
        report.seconds = time.perf_counter() - t_start
        return report
    t_setup = time.perf_counter()
    faulted = state.withheld_for((HELD_BACK, INVALID))
    # Tickets left out for a fault are tried again: the fault may be gone.
    ids = list(dict.fromkeys([*(c.ticket_id for c in changes), *sorted(faulted)]))
    quarantined = {c.ticket_id for c in changes if c.type == QUARANTINED}
    if layout is None:
        layout = load_layout(config.state_dir / "layout.json")
    now = config.clock_now()
    setup = WorkerSetup(
        data_dir=config.data_dir, catalog_dir=config.catalog_dir, out_dir=live, layout=layout,
        base=config.base_url, now=now, episodes_by_ticket=_content(config),
        site_url=config.site_url or catalog.city.site_url,
    )
    renderer = TicketRenderer(setup, state=state)
    site = renderer.site
    # Only confidential and hidden ids are secret; a faulted ticket's id may stay in the
    # pages that link to it (its own page and its row are gone).
    scanner = LeakScanner(withheld=Withheld(state, faults=(HELD_BACK, INVALID)))
    outputs: list[Output] = []
    deletions: list[str] = []
    affected: set[str] = set()
    moved: set[str] = set()
    before: list[Row | None] = []
    after: list[Row | None] = []
    report.stages["setup"] = time.perf_counter() - t_setup
    with timer.stage("write lock"):  # waits while the slow lane commits
        state.begin()
    try:
        # Ticket pages whose "首发聚焦" links changed (an episode was edited or its query
        # matched new tickets) are re-rendered although no journal entry names them.
        relinked = _relinked(state, setup.episodes_by_ticket)
        ids += [t for t in relinked if t not in ids]
        covered_before = _covered_meta(state)
        with timer.stage("tickets"):
            for tid in ids:
                old = state.get_row(tid)
                new: Row | None = None
                path = store.path_for(tid)
                ticket = None
                if not path.exists():
                    # Gone from the store (set aside by the API, or removed): gone from the site.
                    if tid in faulted:
                        state.unwithhold(tid)
                    if tid in quarantined:
                        report.invalid.append((tid, "set aside (quarantined) by the ticket store"))
                else:
                    try:
                        ticket = store.read_path(path)
                    except CorruptTicket as exc:
                        report.invalid.append((tid, exc.reason))
                        state.withhold(tid, f"{INVALID}: {exc.reason}")
                if ticket is not None and ticket.state.is_public:
                    try:
                        public = renderer.publicize(ticket)
                    except RedactionError as exc:
                        report.held_back.append((tid, str(exc)))
                        state.withhold(tid, f"{HELD_BACK}: {exc}")
                    else:
                        new = row_for(public)
                        state.put_rows([new], [texts_for(public)])
                        state.unwithhold(tid)
                        scanner.withheld.discard(tid)
                        outputs.append(ticket_page.render(site, public))
                        outputs += render_ticket_feed(site, public)
                        report.tickets += 1
                elif ticket is not None:
                    state.withhold(tid, "confidential" if ticket.state.confidential else "hidden")
                    scanner.withheld.add(tid)
                    report.withheld += 1
                if ticket is not None:
                    scanner.literals[tid] = private_literals(ticket)
                if new is None:
                    state.delete_row(tid)
                    if old is not None or (live / ticket_page.path_for(tid)).exists():
                        deletions.append(ticket_page.path_for(tid))
                        deletions += ticket_feed_paths(tid)
                    if old is None:
                        continue  # was not on the site, is not now: nothing else changes
                affected |= buckets(old) | buckets(new) | sitemap_buckets(old, new)
                moved |= buckets(old) ^ buckets(new)
                before.append(old)
                after.append(new)
                if new:
                    state.mark_dirty("search", [new.day])
                    state.mark_dirty("export", [new.month])
                if old and (not new or old.day != new.day):
                    state.mark_dirty("search", [old.day])
                    state.mark_dirty("export", [old.month])
        with timer.stage("listings"):
            # Only a bucket a row entered or left can appear or empty (and so change the
            # prev/next links of its neighbours); a reply leaves every bucket in place.
            affected |= _linked_buckets(state, moved)
            for key in sorted(affected):
                gone = _empty_bucket_path(state, key)
                if gone is not None:  # a full build would not make this page at all
                    if (live / gone).exists():
                        deletions.append(gone)
                    continue
                out = _render_bucket(site, key)
                if out is not None:
                    outputs.append(out)
            from .pages import feeds as feed_pages

            feeds = feed_pages.render_changed(site, before, after)
            for out in feeds:
                gone = _empty_feed(state, out.path)
                if gone:  # the last public ticket of a category or area left
                    if (live / out.path).exists():
                        deletions.append(out.path)
                else:
                    outputs.append(out)
            if feeds:
                outputs.append(feed_pages.feeds_index(site))  # lists the category and area feeds
            for section in load_sections():
                outputs += list(section.changed(site, before, after))
                if content_changed:  # an episode, 专报 or top.yaml was edited
                    outputs += list(section.periodic(site))
            if _covered_meta(state) != covered_before:  # a query matched, or let go of, a ticket
                redone = _backlinks(config, store, state, setup, scanner)
                paths = {out.path for out in redone}
                outputs = [out for out in outputs if out.path not in paths] + redone
            if content_changed:
                home.refresh_extras(site)
                state.set_meta("content_fingerprint", content_fp)
            outputs.append(home.render(site, existing=_existing(live)))
            if any(k.startswith("sitemap/") for k in affected):
                outputs += sitemap.render_index(site, _existing(live))
        with timer.stage("leak scan"):
            for out in outputs:
                scanner.check(out)
            scanner.raise_if_found()
        with timer.stage("publish"):
            hashes = {p: state.output_hash(p) for p in (o.path for o in outputs)}
            writer = publish.Writer(live, hashes={k: v for k, v in hashes.items() if v})
            for out in outputs:
                writer.write(out)
            for rel in deletions:
                writer.delete(rel)
                state.drop_output(rel)
                report.deleted += 1
            state.set_outputs((p, writer.hashes[p]) for p in writer.written)
        state.set_meta("cursor", new_cursor)
        with timer.stage("commit"):
            state.commit()
    except BaseException:
        state.rollback()
        raise
    report.written = len(writer.written)
    report.skipped = writer.skipped
    report.bytes = writer.bytes
    report.seconds = time.perf_counter() - t_start
    _log_report(report)
    return report


def _log_report(report: BuildReport) -> None:
    log.info(report.summary())
    for tid, reason in report.held_back:
        log.error("held back from publishing: %s: %s", tid, reason)
    for path, reason in report.invalid:
        log.error("invalid ticket file skipped: %s: %s", path, reason)


def load_state(config: BuildConfig) -> State:
    return State(config.state_dir / "state.sqlite")


__all__ = ["BuildReport", "build", "load_state", "Layout"]
