"""The farm's scheduling: every SoC group gets every item, a group's devices share its items, a lost device's
item is rerun by another device of its group (the device-level path runs through the real adb in
tests/integration/test_farm.py)."""
import threading
import time

from toolkit.devices.base import DeviceInfo, group_key
from toolkit.devices.errors import DeviceLost
from toolkit.errors import MliteError
from toolkit.farm import Farm


class Dev:
    def __init__(self, serial):
        self.serial = serial


def _devices(spec):
    return [(Dev(s), DeviceInfo(serial=s, kind="adb", soc_name=soc, abi="arm64-v8a")) for s, soc in spec]


def test_groups_get_every_item_and_share_it_inside():
    lock, done = threading.Lock(), []

    def work(dev, item, attempt):
        time.sleep(0.05)
        with lock:
            done.append((dev.serial, item))
        attempt.measured = 1

    farm = Farm(_devices([("a", "SD855"), ("b", "SD855"), ("c", "SD865")]), work)
    for i in range(6):
        farm.submit(i)
    attempts = farm.close()
    on = lambda serials: sorted(i for s, i in done if s in serials)  # noqa: E731
    assert on({"a", "b"}) == list(range(6)) and on({"c"}) == list(range(6))
    assert {s for s, _ in done} == {"a", "b", "c"}                 # both SD855 devices took a share
    assert all(a.status == "ok" for a in attempts) and len(attempts) == 12


def test_a_lost_device_is_retired_and_its_item_rerun_in_its_group():
    def work(dev, item, attempt):
        time.sleep(0.02)
        if dev.serial == "b":
            raise DeviceLost("device b was lost during 'run'")
        if item == "bad":
            raise MliteError("model does not load")

    farm = Farm(_devices([("a", "SD855"), ("b", "SD855")]), work)
    for i in ("m1", "m2", "bad", "m3"):
        farm.submit(i)
    attempts = farm.close()
    lost = [a for a in attempts if a.status == "lost"]
    assert len(lost) == 1 and lost[0].device == "b"
    ok = sorted(a.item for a in attempts if a.status == "ok")
    assert ok == ["m1", "m2", "m3"] and all(a.device == "a" for a in attempts if a.status == "ok")
    assert [a.item for a in attempts if a.status == "failed"] == ["bad"]     # its own failure: not retried


def test_a_group_with_no_device_left_fails_its_items():
    def work(dev, item, attempt):
        raise DeviceLost("gone")

    farm = Farm(_devices([("a", "SD855")]), work)
    farm.submit("m1")
    farm.submit("m2")
    attempts = farm.close()
    assert [a.status for a in attempts if a.device == "a"] == ["lost"]
    assert sorted(a.item for a in attempts if a.status == "failed") == ["m1", "m2"]
    assert all("no SD855" in a.error for a in attempts if a.status == "failed")


def test_group_key_separates_soc_abi_and_emulation():
    base = dict(serial="x", kind="adb", soc_name="Snapdragon 855", abi="arm64-v8a")
    assert group_key(DeviceInfo(**base)) == group_key(DeviceInfo(**base | {"serial": "y"}))
    assert group_key(DeviceInfo(**base)) != group_key(DeviceInfo(**base | {"abi": "x86_64"}))
    assert group_key(DeviceInfo(**base)) != group_key(DeviceInfo(**base | {"emulated": True}))
    assert group_key(DeviceInfo(**base)) != group_key(DeviceInfo(**base | {"soc_name": "Snapdragon 865"}))
