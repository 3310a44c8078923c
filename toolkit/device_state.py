"""Device state around a benchmark run (#15): thermal zones and per-core CPU frequency, read from /sys with
one POSIX shell command (mksh/toybox-safe), and the rule that flags a run as throttled."""
from __future__ import annotations

from dataclasses import dataclass, asdict, field

# One line per zone ("zone TYPE TEMP") and per core ("cpu N GOVERNOR CUR MAX SCALING_MAX"); '?' = unreadable.
# Files are read with the shell's own `read` (no `cat`, no subshell): one process in all, which matters on a
# phone being measured and on boards where every process start is slow.
_GET = 'v=; read -r v 2>/dev/null < "{f}"; [ -n "$v" ] || v=?; {var}=$v; '
PROBE = ('for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] || continue; '
         + _GET.format(f="$z/type", var="t") + _GET.format(f="$z/temp", var="k") + 'echo "zone $t $k"; done; '
         'for c in /sys/devices/system/cpu/cpu[0-9]*; do f="$c/cpufreq"; '
         + _GET.format(f="$f/scaling_governor", var="g") + _GET.format(f="$f/scaling_cur_freq", var="u")
         + _GET.format(f="$f/cpuinfo_max_freq", var="m") + _GET.format(f="$f/scaling_max_freq", var="s")
         + 'echo "cpu ${c##*cpu} $g $u $m $s"; done')
MAX_RISE_C = 5.0          # hottest zone: more than this during a run = throttling risk
MAX_FREQ_DROP = 0.10      # a core's allowed maximum falling by more than this = throttled


@dataclass
class CpuState:
    cpu: int
    governor: str | None
    cur_mhz: int | None
    max_mhz: int | None            # cpuinfo_max_freq: the hardware maximum
    allowed_mhz: int | None        # scaling_max_freq: what thermal/power policy allows now


@dataclass
class DeviceState:
    zones: dict[str, float] = field(default_factory=dict)     # type -> °C
    cpus: list[CpuState] = field(default_factory=list)

    @property
    def hottest_c(self) -> float | None:
        return max(self.zones.values()) if self.zones else None

    def to_dict(self) -> dict:
        return asdict(self) | {"hottest_c": self.hottest_c}


def _num(word: str) -> int | None:
    return int(word) if word.lstrip("-").isdigit() else None


def _celsius(raw: int) -> float:
    """Zones report millidegrees (most) or degrees (some older kernels)."""
    return raw / 1000 if abs(raw) >= 200 else float(raw)


def parse(text: str) -> DeviceState:
    state = DeviceState()
    for line in text.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] == "zone" and _num(w[2]) is not None:
            name = w[1] if w[1] not in state.zones else f"{w[1]}#{len(state.zones)}"
            state.zones[name] = round(_celsius(_num(w[2])), 1)
        elif len(w) == 6 and w[0] == "cpu" and w[1].isdigit():
            khz = [_num(x) for x in w[3:]]
            cur, top, allowed = [None if k is None else k // 1000 for k in khz]
            state.cpus.append(CpuState(cpu=int(w[1]), governor=None if w[2] == "?" else w[2],
                                       cur_mhz=cur, max_mhz=top, allowed_mhz=allowed))
    return state


def read(dev, timeout: float = 30) -> DeviceState:
    """The device's state now; files it cannot read (no root, SELinux) stay unknown, never an error."""
    try:
        r = dev.shell(["sh", "-c", PROBE], timeout=timeout)
    except Exception:  # a state we cannot read must not fail the benchmark
        return DeviceState()
    return parse(r.output)


def throttled(before: DeviceState, after: DeviceState, max_rise_c: float = MAX_RISE_C,
              max_drop: float = MAX_FREQ_DROP) -> list[str]:
    """Why a run between two states was throttled (empty: not throttled, or not knowable)."""
    why = []
    if before.hottest_c is not None and after.hottest_c is not None and after.hottest_c - before.hottest_c > max_rise_c:
        why.append(f"hottest zone rose {after.hottest_c - before.hottest_c:.1f} °C "
                   f"({before.hottest_c:.1f} -> {after.hottest_c:.1f})")
    was = {c.cpu: c for c in before.cpus}
    for c in after.cpus:
        b = was.get(c.cpu)
        if b and b.allowed_mhz and c.allowed_mhz and c.allowed_mhz < b.allowed_mhz * (1 - max_drop):
            why.append(f"cpu{c.cpu} allowed frequency fell {1 - c.allowed_mhz / b.allowed_mhz:.0%} "
                       f"({b.allowed_mhz} -> {c.allowed_mhz} MHz)")
    return why


# benchmark_bin's --power_mode: which cores the runtime may use.
POWER_MODES = {0: "big cores", 1: "little cores", 2: "all cores", 3: "no binding"}


def cores_for(power_mode: int, state: DeviceState) -> dict:
    """The cores a run may use under ``power_mode`` (big = above the slowest cluster's maximum frequency;
    a device whose cores share one maximum has no little cores, so every core counts as big)."""
    policy = POWER_MODES.get(power_mode, f"power mode {power_mode}")
    known = [c for c in state.cpus if c.max_mhz]
    out = {"power_mode": power_mode, "policy": policy, "cpus": None}
    if not known:
        return out | {"note": "core frequencies unreadable"}
    low = min(c.max_mhz for c in known)
    big = [c.cpu for c in known if c.max_mhz > low] or [c.cpu for c in known]
    little = [c.cpu for c in known if c.max_mhz == low and c.cpu not in big]
    cpus = {0: big, 1: little or big, 2: [c.cpu for c in known]}.get(power_mode)
    return out | {"cpus": cpus, "big": big, "little": little}


DROP_CACHES = "sync; echo 3 > /proc/sys/vm/drop_caches"


def drop_caches(dev, timeout: float = 60) -> str | None:
    """Empty the page cache so the next load is cold; None when done, else why not (no root: warm)."""
    try:
        r = dev.shell(["sh", "-c", DROP_CACHES], timeout=timeout)
    except Exception as e:  # a device that cannot do it still gets measured, warm
        return f"could not run the cache drop ({type(e).__name__})"
    if r.code == 0:
        return None
    lines = [ln.strip() for ln in r.output.splitlines() if ln.strip()]
    return f"page cache not dropped ({lines[-1] if lines else f'status {r.code}'})"


@dataclass
class Cooling:
    """A wait for the hottest zone to reach ``target_c`` before a run."""

    target_c: float
    waited_s: float
    start_c: float | None
    end_c: float | None
    reached: bool | None          # None: no readable temperature, so no wait

    def to_dict(self) -> dict:
        return asdict(self)


def cool_down(dev, target_c: float, timeout: float, poll_s: float = 2.0, clock=None,
              sleep=None) -> tuple[Cooling, DeviceState]:
    """Wait until the hottest zone is at or below ``target_c`` (at most ``timeout`` seconds); the wait and the
    last state read (the state the next run starts in)."""
    import time
    clock, sleep = clock or time.monotonic, sleep or time.sleep
    t0 = clock()
    state = read(dev)
    start = state.hottest_c
    while state.hottest_c is not None and state.hottest_c > target_c and clock() - t0 < timeout:
        sleep(min(poll_s, max(0.0, timeout - (clock() - t0))))
        state = read(dev)
    now = state.hottest_c
    reached = None if now is None else now <= target_c
    return Cooling(target_c=target_c, waited_s=round(clock() - t0, 2), start_c=start, end_c=now,
                   reached=reached), state
