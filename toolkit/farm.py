"""A device farm: work spread over the devices of each SoC group, one worker thread per device.

Every group gets every item (results of different SoCs are never pooled); inside a group the item goes to
whichever device is free, so N devices of one SoC finish about N times sooner. A device lost mid-item
(unplugged, adb server gone) is retired and the item goes back to the group for another device; other
failures (a model that does not load) are the item's own and are not retried.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Callable

from .devices.base import Device, DeviceInfo, group_key
from .devices.errors import DeviceLost, DeviceNotReady
from .errors import MliteError

RETIRES = (DeviceLost, DeviceNotReady)     # the device, not the item, failed: retire it, rerun the item


@dataclass
class Attempt:
    item: str
    device: str
    group: str
    status: str = "running"       # ok | lost (the device; the item went back to its group) | failed
    error: str | None = None
    rerun_on: str | None = None   # lost: the device that took the item next
    measured: int = 0
    reused: int = 0
    set_aside: list[str] = field(default_factory=list)    # partial results of a lost attempt, out of reports

    def to_dict(self) -> dict:
        return asdict(self)


Work = Callable[[Device, object, Attempt], None]    # runs one item on one device, fills the attempt's counts


class _Group:
    def __init__(self, key: str, devices: list[tuple[Device, DeviceInfo]]):
        self.key = key
        self.devices = devices
        self.alive = {d.serial for d, _ in devices}
        self.pending: deque = deque()
        self.in_flight = 0


class Farm:
    """``submit`` items while the workers run; ``close`` waits and returns every attempt."""

    def __init__(self, devices: list[tuple[Device, DeviceInfo]], work: Work, label: Callable[[object], str] = str,
                 device_name: Callable[[DeviceInfo], str] | None = None):
        self.work, self.label = work, label
        self.device_name = device_name or (lambda i: i.serial)
        groups: dict[str, list] = {}
        for dev, info in devices:
            groups.setdefault(group_key(info), []).append((dev, info))
        self.groups = [_Group(k, v) for k, v in groups.items()]
        self.cond = threading.Condition()
        self.closed = False
        self.attempts: list[Attempt] = []
        self.threads = [threading.Thread(target=self._worker, args=(g, dev, info), daemon=True)
                        for g in self.groups for dev, info in g.devices]
        for t in self.threads:
            t.start()

    def submit(self, item) -> None:
        with self.cond:
            for g in self.groups:
                if g.alive:
                    g.pending.append(item)
                else:
                    self._orphan(g, item)
            self.cond.notify_all()

    def close(self) -> list[Attempt]:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for t in self.threads:
            t.join()
        for i, a in enumerate(self.attempts):
            if a.status == "lost":
                a.rerun_on = next((b.device for b in self.attempts[i + 1:]
                                   if (b.item, b.group) == (a.item, a.group)), None)
        return self.attempts

    def _orphan(self, g: _Group, item) -> None:
        self.attempts.append(Attempt(item=self.label(item), device="-", group=g.key, status="failed",
                                     error=f"no {g.key} device left: every one was lost during the run"))

    def _worker(self, g: _Group, dev: Device, info: DeviceInfo) -> None:
        while True:
            with self.cond:
                while not g.pending and not (self.closed and g.in_flight == 0):
                    self.cond.wait()
                if not g.pending:
                    return
                item = g.pending.popleft()
                g.in_flight += 1
                attempt = Attempt(item=self.label(item), device=self.device_name(info), group=g.key)
                self.attempts.append(attempt)
            retire = stop = False
            try:
                self.work(dev, item, attempt)
                attempt.status = "ok"
            except KeyboardInterrupt:      # procs.Cancelled: the command is stopping; nothing is rerun
                attempt.status, attempt.error, stop = "failed", "stopped by a signal", True
            except RETIRES as e:
                attempt.status, attempt.error, retire = "lost", str(e), True
            except MliteError as e:
                attempt.status, attempt.error = "failed", str(e)
            except Exception as e:  # a bug must not hang the farm: record it as this item's failure
                attempt.status, attempt.error = "failed", f"{type(e).__name__}: {e}"
            with self.cond:
                g.in_flight -= 1
                if retire:
                    g.alive.discard(dev.serial)
                    g.pending.appendleft(item)
                    if not g.alive:                       # nobody left to rerun it: the group's items fail
                        while g.pending:
                            self._orphan(g, g.pending.popleft())
                self.cond.notify_all()
            if retire or stop:
                return
