"""One measurement at a time per device: a second mlite on a phone that is being measured is refused."""
from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import assert_one_line_error, run_mlite
from tests.fixtures.loopback import ARM64_SD855, loopback_device
from tests.integration.test_sigterm import _start, _wait_for, _whole_results, arm_export  # noqa: F401

pytestmark = pytest.mark.slow


def test_a_second_push_to_a_busy_phone_is_refused_and_the_first_is_undisturbed(arm_export, adb_server, tmp_path):
    with loopback_device(tmp_path / "phone", ARM64_SD855) as phone:
        before = len(_whole_results(arm_export))
        first = _start(["push", "--adb", "--model-dir", arm_export, "--threads", "1,2", "--warmup", "1", "--repeats",
                        "40", "--json"], uuid.uuid4().hex)
        _wait_for(lambda: len(_whole_results(arm_export)) > before or first.poll() is not None, 300,
                  "the first run to finish")
        assert first.poll() is None, first.communicate()[1]
        p = run_mlite("push", "--adb", "--model-dir", arm_export, "--threads", "1", "--warmup", "0", "--repeats", "1")
        line = assert_one_line_error(p, f"device {phone.serial} is in use by another mlite process",
                                     f"pid {first.pid}", "'mlite push --adb'")
        assert "wait for it" in line
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err
        (run,) = json.loads(out)
        assert run["error"] is None and [r["threads"] for r in run["results"]] == [1, 2]
        assert len(_whole_results(arm_export)) == before + 2          # the refused push stored nothing
        # the lock goes with its process: the next push runs
        p = run_mlite("push", "--adb", "--model-dir", arm_export, "--threads", "1", "--warmup", "0", "--repeats", "1")
        assert p.returncode == 0, p.stderr
