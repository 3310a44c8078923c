"""converters.proc.WorkerServer: one serving worker, each job in a fork of it; crashes, errors and hangs."""
import json
import os
import time

import pytest

from converters.proc import WorkerServer
from toolkit.errors import ConversionError


@pytest.fixture
def srv():
    s = WorkerServer("tests.fixtures.serve_worker", "the test worker")
    yield s
    s.close()


def _job(tmp_path, name, **job):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(job))
    return f


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_jobs_run_in_forks_of_one_prepared_worker(srv, tmp_path):
    a = srv.call(_job(tmp_path, "a", do="ok"))
    b = srv.call(_job(tmp_path, "b", do="ok"))
    assert a["server"] == b["server"] and a["pid"] != b["pid"]           # one worker, a fork per job
    assert (a["prepared"], a["jobs"]) == (1, 1) and (b["prepared"], b["jobs"]) == (1, 1)   # never a 2nd job's state


def test_a_jobs_error_is_a_conversion_error_and_the_worker_serves_on(srv, tmp_path):
    first = srv.call(_job(tmp_path, "a", do="ok"))
    with pytest.raises(ConversionError, match="the test worker failed: ValueError: bad calibration folder"):
        srv.call(_job(tmp_path, "b", do="raise"))
    assert srv.call(_job(tmp_path, "c", do="ok"))["server"] == first["server"]


def test_a_crashed_job_names_the_signal_and_the_fatal_line(srv, tmp_path):
    first = srv.call(_job(tmp_path, "a", do="ok"))
    with pytest.raises(ConversionError, match=r"was killed by SIGKILL: \[F .*Check failed: dims match"):
        srv.call(_job(tmp_path, "b", do="kill"))
    assert srv.call(_job(tmp_path, "c", do="ok"))["server"] == first["server"]


def test_a_dead_worker_is_restarted_for_the_next_job(srv, tmp_path):
    first = srv.call(_job(tmp_path, "a", do="ok"))
    os.kill(first["server"], 9)
    time.sleep(0.2)
    assert srv.call(_job(tmp_path, "b", do="ok"))["server"] != first["server"]


def test_a_hung_job_times_out_and_is_killed(srv, tmp_path):
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(ConversionError, match="did not finish within 2 s"):
        srv.call(_job(tmp_path, "a", do="hang", pidfile=str(pidfile)), timeout=2)
    assert time.monotonic() - t0 < 15
    assert not _alive(int(pidfile.read_text()))                          # the job's fork is gone, not orphaned
