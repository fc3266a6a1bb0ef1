"""The slow lane: outputs that may lag the pages by a few minutes.

- open data: one CSV (UTF-8 with BOM) and one JSON file of public tickets per month;
- search: one Pagefind index per day of short public records (id, title, redacted text),
  merged in the browser; memory and time per shard stay flat as the city grows.
Incremental builds mark the days and months they touched; `run()` rebuilds those, at
most once per interval, in the watcher (and right after a full build).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from intake_api.clock import SHANGHAI, parse_ts

from .config import BuildConfig
from .leakscan import LeakScanner
from .pages.context import Site, live_site
from .publish import Writer, live_root
from .render import Output
from .state import State

log = logging.getLogger(__name__)

EXPORT_FIELDS = [
    ("id", "工单编号"),
    ("received_at", "受理时间（北京时间）"),
    ("channel", "受理渠道代码"),
    ("category", "诉求类别代码"),
    ("category_name", "诉求类别"),
    ("area", "区域代码"),
    ("area_name", "区域"),
    ("street", "街道/乡镇"),
    ("department", "承办单位代码"),
    ("department_name", "承办单位"),
    ("status", "状态：open 办理中 / overdue 已超期 / closed 已办结"),
    ("closed_at", "办结时间（北京时间）"),
    ("handling_days", "办理时长（天，受理至办结）"),
    ("on_time", "是否按时办结（1 是 / 0 否 / 空 未办结）"),
    ("accepted_in_time", "是否按时签收"),
    ("satisfaction", "回访评价：satisfied 满意 / basic 基本满意 / unsatisfied 不满意"),
    ("solved", "问题是否解决（1 是 / 0 否）"),
    ("first_time", "是否一次办好"),
    ("returns", "退单次数"),
    ("shirking", "经研判为推诿的退单次数"),
    ("reopens", "重办次数"),
    ("supervision", "最高督办级别（0-5：热线、媒体、政务、人大政协、纪委督办）"),
    ("content", "诉求内容（已隐去个人信息）"),
    ("reply", "承办单位最新答复（已隐去个人信息）"),
    ("comment", "诉求人评价意见（已隐去个人信息）"),
    ("last_hash", "时间线最后一个事件的哈希值"),
]


FIELD_NAMES = [f for f, _ in EXPORT_FIELDS]


def _local(ts: str | None) -> str:
    return parse_ts(ts).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S+08:00") if ts else ""


EXPORT_CHUNK = 5000  # rows per step: a month of Linyi's tickets (300,000) never sits in memory


def _export_record(r, t, names) -> dict:
    return {
        "id": r.id,
        "received_at": _local(r.received_at),
        "channel": r.channel,
        "category": r.category,
        "category_name": names.category(r.category) if r.category else "",
        "area": r.area,
        "area_name": names.area(r.area) if r.area else "",
        "street": r.street,
        "department": r.department,
        "department_name": names.department_full(r.department),
        "status": r.status,
        "closed_at": _local(r.closed_at),
        "handling_days": r.handling_days,
        "on_time": r.on_time,
        "accepted_in_time": r.accepted_in_time,
        "satisfaction": r.satisfaction,
        "solved": r.solved,
        "first_time": r.first_time,
        "returns": r.returns,
        "shirking": r.shirking,
        "reopens": r.reopens,
        "supervision": r.supervision,
        "content": t["content"] if t else r.snippet,
        "reply": t["reply"] if t else "",
        "comment": t["comment"] if t else "",
        "last_hash": r.last_hash,
    }


def export_chunks(site: Site, month: str) -> Iterator[list[dict]]:
    """The month's export records, EXPORT_CHUNK at a time, in id order."""
    rows = site.state.iter_rows("month=?", (month,))
    while chunk := list(itertools.islice(rows, EXPORT_CHUNK)):
        texts = site.state.texts([r.id for r in chunk])
        yield [_export_record(r, texts.get(r.id), site.names) for r in chunk]


def export_paths(month: str) -> tuple[str, str]:
    return f"open-data/tickets-{month}.csv", f"open-data/tickets-{month}.json"


def write_exports(
    site: Site, month: str, root: Path, scanner: LeakScanner, *, sync: bool = False
) -> list[str]:
    """Stream one month's CSV and JSON into `root`, EXPORT_CHUNK rows at a time.

    `sync` (the slow lane, writing into the live site): each chunk is flushed to disk as
    it is written. A month at Linyi's volume is hundreds of megabytes; left to the kernel,
    they reach the disk in one burst (ext4 starts writing a file renamed over another at
    once), and the API's own small fsyncs (a department's reply) may wait behind it.

    Each chunk goes through the leak scan before it is written; the files are written to
    temporary names and renamed into place together at the end (not at all if the scan
    found anything: the caller raises), so a reader never sees half a file. The JSON is byte for byte what orjson makes of the whole
    month at once. The rows are read in one snapshot (a build may commit meanwhile).
    """
    csv_path, json_path = export_paths(month)
    targets = [root / csv_path, root / json_path]
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    tmps = [t.with_name(f".{t.name}.{os.getpid()}.tmp") for t in targets]
    own_txn = not site.state.db.in_transaction
    if own_txn:
        site.state.db.execute("BEGIN")
    try:
        count = site.state.query("SELECT count(*) AS n FROM rows WHERE month=?", (month,))[0]["n"]
        head = orjson.dumps({"month": month, "count": count, "fields": dict(EXPORT_FIELDS)})
        with open(tmps[0], "w", encoding="utf-8", newline="") as fc, open(tmps[1], "wb") as fj:
            fc.write("\ufeff")
            csv.writer(fc, lineterminator="\n").writerow(FIELD_NAMES)
            fj.write(head[:-1] + b',"tickets":[')
            first = True
            for records in export_chunks(site, month):
                buf = io.StringIO()
                # A plain writer over the values in field order: DictWriter's per-field
                # lookups were a third of the export's time.
                csv.writer(buf, lineterminator="\n").writerows(
                    ["" if v is None else v for v in map(rec.get, FIELD_NAMES)] for rec in records
                )
                part = b",".join(orjson.dumps(rec) for rec in records)
                ids = tuple(r["id"] for r in records)
                scanner.check(Output(csv_path, buf.getvalue(), ids=ids, key=f"export/{month}"))
                scanner.check(Output(json_path, part, ids=ids, key=f"export/{month}"))
                fc.write(buf.getvalue())
                fj.write(part if first else b"," + part)
                first = False
                if sync:
                    for fh in (fc, fj):
                        fh.flush()
                        os.fdatasync(fh.fileno())
            fj.write(b"]}")
        if scanner.findings:
            return []
        for tmp, target in zip(tmps, targets, strict=True):
            os.replace(tmp, target)
    finally:
        if own_txn:
            site.state.db.execute("COMMIT")
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return [csv_path, json_path]


def render_open_data_page(site: Site) -> Output:
    months = site.state.query("SELECT month, count(*) AS n FROM rows GROUP BY month ORDER BY month DESC")
    html = site.page("open_data.html", title="开放数据", active="/open-data/", months=months, fields=EXPORT_FIELDS)
    return Output("open-data/index.html", html, key="open-data")


def render_search_page(site: Site, days: list[str]) -> list[Output]:
    ranges = [("最近7天", "7"), ("最近30天", "30"), ("最近90天", "90"), ("全部", "all")]
    example = site.state.rows("1", (), limit=1)
    html = site.page(
        "search.html", title="搜索", active="/search/", ranges=ranges,
        example_id=example[0].id if example else "LY20261128000001",
    )
    shards = orjson.dumps({"days": sorted(days, reverse=True)})
    return [
        Output("search/index.html", html, key="search"),
        Output("search/shards.json", shards, key="search"),
    ]


# -- search shards -------------------------------------------------------------------


def _records(state: State, day: str) -> list[dict]:
    rows = list(state.iter_rows("day=?", (day,)))
    texts = state.texts([r.id for r in rows])
    out = []
    for r in rows:
        t = texts.get(r.id)
        body = " ".join(x for x in (r.id, r.title, t["content"] if t else r.snippet, t["reply"] if t else "") if x)
        out.append({"id": r.id, "title": f"{r.id} {r.title}", "content": body, "date": day})
    return out


def build_search(state: State, root: Path, base: str, days: Iterable[str]) -> int:
    """(Re)write the Pagefind shard of each day; each swap is atomic per shard folder."""
    from .pagefind_service import PagefindService

    days = sorted(set(days))
    if not days:
        return 0
    with PagefindService() as service:
        for day in days:
            target = root / "search" / "shards" / day
            records = _records(state, day)
            tmp = target.with_name(f".{day}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            if not records:
                shutil.rmtree(target, ignore_errors=True)
                continue
            service.write_index(
                ({"url": f"{base}tickets/{r['id']}/", "content": r["content"],
                  "meta": {"title": r["title"], "受理日期": r["date"]}} for r in records),
                str(tmp),
            )
            # Readers see the old or the new index, never a mix.
            old = target.with_name(f".{day}.old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
    ui = root / "search" / "ui"
    src = root / "search" / "shards" / days[-1]
    if (src / "pagefind-ui.js").exists():
        ui.mkdir(parents=True, exist_ok=True)
        for name in ("pagefind-ui.js", "pagefind-ui.css"):
            shutil.copy2(src / name, ui / name)
    return len(days)


# -- orchestration -------------------------------------------------------------------


def export_months(site: Site) -> list[str]:
    """The months a full build exports (`write_exports` each), the largest first."""
    rows = site.state.query("SELECT month, count(*) AS n FROM rows GROUP BY month ORDER BY n DESC, month")
    return [r["month"] for r in rows]


def render_pages(site: Site) -> list[Output]:
    """Full build: the open-data and search pages to write (search shards come after;
    the exports are written by `write_exports`, a month at a time, in the build's workers)."""
    outs = [render_open_data_page(site)]
    days = site.state.days()
    outs += render_search_page(site, days)
    site.state.mark_dirty("search", days)
    return outs


def run(config: BuildConfig, *, search: bool = True) -> dict[str, int]:
    """Rebuild what incremental builds marked dirty (exports, search shards)."""
    from intake_api.catalog import load_catalog

    from .build import _lock

    with _lock(config, "slow"):
        root = live_root(config.site_dir)
        state_path = config.state_dir / "state.sqlite"
        if root is None or not state_path.exists():
            return {}
        state = State(state_path)
        try:
            catalog = load_catalog(config.catalog_dir)
            site = live_site(config, state, catalog)

            scanner = LeakScanner(withheld=state.withheld_ids())
            months = state.take_dirty("export")
            outs = []
            for m in months:
                written = write_exports(site, m, root, scanner, sync=True)
                if scanner.findings:  # the files were not put in place
                    break
                log.debug("exports: %s", written)
            if months:
                outs.append(render_open_data_page(site))
            for out in outs:
                scanner.check(out)
            scanner.raise_if_found()
            writer = Writer(root, hashes={})
            for out in outs:
                writer.write(out)
            days = state.take_dirty("search") if search and config.search else []
            if days:
                build_search(state, root, config.base_url, days)
                all_days = state.days()
                for out in render_search_page(site, all_days):
                    writer.write(out)
            return {"exports": len(months), "search_shards": len(days)}
        finally:
            state.close()
