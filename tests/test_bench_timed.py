"""The benchmark's process timer: wall time, peak memory and CPU of a command's whole tree."""

from __future__ import annotations

import sys

from generator.bench import table, timed

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
