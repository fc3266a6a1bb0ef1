"""Full-build workers: load, redact and render ticket pages in parallel processes.

Each worker reads a batch of ticket files, makes the public view, renders and writes
the page into the staging folder, checks it with the leak scan, and returns compact
rows (public values only) to the parent, which indexes them.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from intake_api.store import CorruptTicket, Store

from .config import cached_catalog
from .feedlist import render_ticket_feed
from .leakscan import LeakScanner, phone_digits
from .pages import ticket as ticket_page
from .pages.context import Site
from .public import make_public, private_literals
from .redact import RedactionError, Redactor
from .render import Output
from .rows import row_for
from .shell import Layout

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    rows: list[tuple] = field(default_factory=list)
    texts: list[tuple] = field(default_factory=list)
    withheld: list[tuple[str, str]] = field(default_factory=list)
    held_back: list[tuple[str, str]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    phones: set[str] = field(default_factory=set)
    bytes: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step (see PHASES)


# The steps of a ticket in a full build, timed per batch (the build report sums them):
# where a ticket's time goes, in every build, without a profiler.
PHASES = ("read and verify", "redact", "page", "feeds", "leak scan", "write")


@dataclass
class WorkerSetup:
    data_dir: Path
    catalog_dir: Path
    out_dir: Path
    layout: Layout
    base: str
    now: object
    episodes_by_ticket: dict
    site_url: str = ""
    content_dir: Path | None = None
    drafts: bool = False


class TicketRenderer:
    """Everything needed to turn one ticket into its public page."""

    def __init__(self, setup: WorkerSetup, state=None) -> None:
        self.catalog = cached_catalog(setup.catalog_dir)
        self.store = Store(setup.data_dir, prefix=self.catalog.city.id_prefix, durable=False)
        self.redactor = Redactor(self.catalog.redaction.rules)
        self.site = Site(
            layout=setup.layout, catalog=self.catalog, state=state, now=setup.now, base=setup.base,
            episodes_by_ticket=setup.episodes_by_ticket, site_url=setup.site_url,
            content_dir=setup.content_dir, drafts=setup.drafts,
        )
        self.out_dir = setup.out_dir
        self._public_cache: dict[str, bool] = {}

    def is_public(self, ticket_id: str) -> bool:
        """Whether a linked ticket is public (links to withheld tickets are dropped)."""
        if ticket_id not in self._public_cache:
            try:
                # read_path, not get: the generator only reads the store, never quarantines.
                path = self.store.path_for(ticket_id)
                self._public_cache[ticket_id] = self.store.read_path(path).state.is_public
            except Exception:  # noqa: BLE001 - unknown or unreadable: not public
                self._public_cache[ticket_id] = False
        return self._public_cache[ticket_id]

    def publicize(self, ticket):
        return make_public(ticket, catalog=self.catalog, redactor=self.redactor, is_public=self.is_public)


_R: TicketRenderer | None = None


def init(setup: WorkerSetup) -> None:
    global _R
    logging.basicConfig(level=logging.WARNING)
    _R = TicketRenderer(setup)
    _MADE.clear()
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this worker if the build process dies (killed mid-build, serve stopped)."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_batch(paths: list[Path]) -> BatchResult:
    assert _R is not None
    res = BatchResult()
    scanner = LeakScanner(withheld=set())
    clock = time.perf_counter
    t_read = t_redact = t_page = t_feeds = t_scan = t_write = 0.0
    for path in paths:
        t0 = clock()
        try:
            ticket = _R.store.read_path(path)
        except CorruptTicket as exc:
            res.invalid.append((str(path), exc.reason))
            continue
        state = ticket.state
        digits = phone_digits(state.private.citizen_phone)
        if digits:
            res.phones.add(digits)
        if not state.is_public:
            res.withheld.append((ticket.id, "confidential" if state.confidential else "hidden"))
            continue
        t1 = clock()
        try:
            public = _R.publicize(ticket)
        except RedactionError as exc:
            res.held_back.append((ticket.id, str(exc)))
            continue
        t2 = clock()
        page = ticket_page.render(_R.site, public)
        t3 = clock()
        outs: list[Output] = [page, *render_ticket_feed(_R.site, public)]
        t4 = clock()
        scanner.literals = {ticket.id: private_literals(ticket)}
        for out in outs:
            scanner.check(out)
        t5 = clock()
        for out in outs:
            res.bytes += _write(out)
        t6 = clock()
        row = row_for(public)
        res.rows.append(row.as_tuple())
        res.texts.append(texts_for(public))
        t_read += t1 - t0
        t_redact += t2 - t1
        t_page += t3 - t2
        t_feeds += t4 - t3
        t_scan += t5 - t4
        t_write += t6 - t5
    res.findings = scanner.findings
    res.phases = dict(zip(PHASES, (t_read, t_redact, t_page, t_feeds, t_scan, t_write), strict=True))
    return res


_MADE: set[str] = set()  # folders this worker made (the feeds' day folders are shared by thousands)


def _write(out: Output) -> int:
    """Write one new file of a full build (the whole folder goes live at once, so no
    temp-and-rename per file); return its size."""
    assert _R is not None
    target = os.path.join(_R.out_dir, out.path)
    folder = os.path.dirname(target)
    if out.path.startswith("tickets/"):  # the ticket's own folder: one mkdir, not remembered
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
    elif folder not in _MADE:
        os.makedirs(folder, exist_ok=True)
        _MADE.add(folder)
    data = out.data
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return len(data)


def texts_for(public) -> tuple[str, str, str, str]:
    reply = public.timeline and next(
        (e.text for e in reversed(public.timeline) if e.type in ("replied", "resolved") and e.text), ""
    )
    return (public.id, public.content, reply or "", public.rating.comment if public.rating else "")
