"""The benchmark: its process timer (wall time, peak memory and CPU of a command's whole tree), its table, its intake runs, and what it writes before it cleans up."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from generator import bench
from generator.bench import table, timed
from intake_api.store import Store
from tests.conftest import CATALOG_DIR

BURN = """
import multiprocessing as mp, time

def burn():
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    procs = [mp.Process(target=burn) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print("done")
"""


def test_timed_counts_the_cpu_of_the_command_and_the_children_it_waited_for(tmp_path):
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    run = timed([sys.executable, str(script)])
    assert run.returncode == 0 and run.stdout.strip() == "done"
    # Two children burn 0.4 s of CPU each: both count, though they ran side by side.
    assert run.cpu_seconds >= 0.75
    assert run.peak_bytes > 0


def test_the_table_shows_cpu_per_page_for_ours_and_hugo():
    result = {
        "tickets": 1000,
        "full_build": {"seconds": 2.0, "ticket_pages": 1000, "pages_per_s": 500.0, "cpu_s": 3.0,
                       "ms_per_page": {}},
        "hugo": {"seconds": 0.5, "pages": 1000, "pages_per_s": 2000.0, "cpu_s": 0.8},
    }
    lines = {line[:34].strip(): line[34:].strip() for line in table([result]).splitlines()}
    assert lines["CPU per page (ms, all cores)"] == "3.00"
    assert lines["hugo CPU per page (ms)"] == "0.80"
    assert lines["ours / hugo"] == "0.25x"


def test_the_table_shows_the_median_intake_run_with_the_slowest_and_fastest():
    def run(rates: list[float]) -> dict:
        return {"tickets_per_s": sorted(rates)[len(rates) // 2], "rounds_tickets_per_s": rates,
                "p50_ms": 60.0, "p99_ms": 180.0, "accepted": 3000, "verified_on_disk": 3000, "linked_as_repeats": 2997}

    result = {"tickets": 1000, "intake": run([640.4, 488.0, 702.2]), "intake_keys": run([590.0]),
              "intake_storm": run([700.0, 720.0, 650.0])}
    lines = {line[:34].strip(): line[34:].strip() for line in table([result]).splitlines()}
    assert lines["intake tickets/s (2 workers)"] == "640 (488–702)"
    assert lines["with Idempotency-Key: tickets/s"] == "590"  # one run: no spread
    assert lines["storm at one place: tickets/s"] == "700 (650–720)"
    assert lines["intake verified on disk (all runs)"] == "9000/9000"


def test_intake_runs_several_times_against_one_real_server(tmp_path):
    """Each run files its own tickets (a storm at its own address); the rate is the median run's."""
    data, site = tmp_path / "data", tmp_path / "site"
    shutil.copytree(CATALOG_DIR, data / "catalog")
    res = bench.intake(data, site, total=12, concurrency=4, workers=1, storm=True, rounds=3)
    rates = res["rounds_tickets_per_s"]
    assert len(rates) == 3 and all(r > 0 for r in rates)
    assert res["tickets_per_s"] == sorted(rates)[1]
    assert res["requests"] == res["accepted"] == res["unique_ids"] == res["verified_on_disk"] == 36
    assert res["errors"] == 0
    # One first report per run, every other ticket of the run its repeat; the next run
    # started once the first report held the links back from all of them.
    assert res["linked_as_repeats"] == 33
    assert 0 <= res["linkbacks_s"] < 60
    store = Store(data)
    firsts = [t for t in store.scan() if not any(link["relation"] == "duplicate_of" for link in t.state.links)]
    assert sorted(sum(link["relation"] == "duplicate" for link in t.state.links) for t in firsts) == [11, 11, 11]


def _sizes(n: int, **_kw) -> dict:
    """A size's figures, as far as the table reads them."""
    return {"tickets": n, "full_build": {"seconds": 1.0, "ticket_pages": n, "pages_per_s": float(n), "cpu_s": 1.0,
                                         "ms_per_page": {}}}


def test_the_figures_are_written_before_the_folders_are_deleted(tmp_path, monkeypatch, capsys):
    """Deleting a run's folders takes minutes at 100,000 tickets: the JSON and the table
    come first, and what a failed size leaves is the sizes measured before it."""
    out = tmp_path / "bench.json"
    on_disk_at_delete: list[list[int]] = []
    real_rmtree = shutil.rmtree

    def rmtree(path, ignore_errors=False):
        on_disk_at_delete.append([r["tickets"] for r in json.loads(out.read_text())["results"]])
        real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(bench.shutil, "rmtree", rmtree)
    monkeypatch.setattr(bench, "bench_one", _sizes)
    bench.run([10, 20], json_path=out)
    assert on_disk_at_delete == [[10, 20], [10, 20]]
    printed = capsys.readouterr()
    assert printed.out.startswith("tickets") and "20" in printed.out.splitlines()[0]
    assert printed.err.index("deleting the temporary folders") > printed.err.rindex("ticket pages/s")

    def second_fails(n: int, **kw) -> dict:
        if n == 20:
            raise RuntimeError("demo failed")
        return _sizes(n)

    on_disk_at_delete.clear()
    monkeypatch.setattr(bench, "bench_one", second_fails)
    with pytest.raises(RuntimeError, match="demo failed"):
        bench.run([10, 20], json_path=out)
    assert on_disk_at_delete == [[10], [10]]


def test_each_size_runs_in_a_folder_whose_folders_are_spread_over_the_disk(tmp_path, monkeypatch):
    """The run's folders are marked top-level (chattr +T) where the disk knows the flag,
    so its data, site and Hugo output do not land among lately freed inodes."""
    probe = tmp_path / "probe"
    probe.mkdir()
    if not bench.spread(probe):
        pytest.skip("this file system has no top-level folder flag")
    assert bench.is_spread(probe) and not bench.is_spread(tmp_path)
    flagged: list[bool] = []

    def one(n: int, *, work, **_kw) -> dict:
        flagged.append(bench.is_spread(work))
        return _sizes(n)

    monkeypatch.setattr(bench, "bench_one", one)
    bench.run([10], json_path=None)
    assert flagged == [True]


def test_change_to_public_reports_where_the_incremental_builds_spent_the_time():
    from generator.build import BuildReport

    # The lines the server logs: the build's own summary after the logger's prefix.
    first = BuildReport(mode="incremental", tickets=1, written=9, skipped=13, seconds=0.04, stages={
        "open": 0.003, "journal": 0.0, "write lock": 0.001, "listings": 0.019, "leak scan": 0.010})
    second = BuildReport(mode="incremental", tickets=2, written=12, seconds=0.06, stages={
        "open": 0.002, "listings": 0.030, "leak scan": 0.012})
    lines = [
        "2026-12-07 18:53:22,100 INFO uvicorn.access: 127.0.0.1 - POST /api/v1/tickets/X/actions 200",
        f"2026-12-07 18:53:22,487 INFO generator.build: {first.summary()}",
        f"2026-12-07 18:53:22,600 INFO generator.build: {second.summary()}",
    ]
    stages = bench.build_stages(lines)
    assert stages["total"] == pytest.approx(0.10)
    assert stages["listings"] == pytest.approx(0.049)
    assert stages["leak scan"] == pytest.approx(0.022)
    assert stages["write lock"] == pytest.approx(0.001)
    assert bench.build_stages(lines[:1]) == {}
