"""Does a device's CPU have ARMv8.2 FP16 arithmetic? Read from its /proc/cpuinfo (phones and boards alike).

Paddle Lite's FP16 kernels (the armv8.2-a+fp16 runtime) are SIGILL on an ARMv8.0 core (Cortex-A53/A57/A72:
Raspberry Pi 3/4, many budget phones), so mlite checks before it copies anything. The kernel lists the
capability as ``asimdhp`` (with ``fphp``) in each processor's ``Features``; older kernels may not print
Features, then the ``CPU part`` codes decide (Arm's and Qualcomm's Kryo parts Paddle Lite also knows).
"""
from __future__ import annotations

from dataclasses import dataclass

# (implementer, part) -> (core name, FP16 arithmetic)
PARTS = {
    ("0x41", "0xd03"): ("Cortex-A53", False), ("0x41", "0xd04"): ("Cortex-A35", False),
    ("0x41", "0xd07"): ("Cortex-A57", False), ("0x41", "0xd08"): ("Cortex-A72", False),
    ("0x41", "0xd09"): ("Cortex-A73", False), ("0x41", "0xd05"): ("Cortex-A55", True),
    ("0x41", "0xd0a"): ("Cortex-A75", True), ("0x41", "0xd0b"): ("Cortex-A76", True),
    ("0x41", "0xd0c"): ("Neoverse-N1", True), ("0x41", "0xd0d"): ("Cortex-A77", True),
    ("0x41", "0xd41"): ("Cortex-A78", True), ("0x41", "0xd44"): ("Cortex-X1", True),
    ("0x41", "0xd46"): ("Cortex-A510", True), ("0x41", "0xd47"): ("Cortex-A710", True),
    ("0x41", "0xd48"): ("Cortex-X2", True),
    ("0x51", "0x800"): ("Kryo 2xx Gold", False), ("0x51", "0x801"): ("Kryo 2xx Silver", False),
    ("0x51", "0x802"): ("Kryo 3xx Gold", True), ("0x51", "0x803"): ("Kryo 3xx Silver", True),
    ("0x51", "0x804"): ("Kryo 4xx Gold", True), ("0x51", "0x805"): ("Kryo 4xx Silver", True),
}


@dataclass
class CpuFp16:
    """What a device's /proc/cpuinfo says about FP16 arithmetic."""

    fp16: bool | None          # None: the file says nothing usable (no ARM fields)
    cpu: str                   # e.g. "Qualcomm SM8150: 4 x Kryo 4xx Silver + 4 x Kryo 4xx Gold"
    how: str                   # which fields decided

    def to_dict(self) -> dict:
        return {"fp16": self.fp16, "cpu": self.cpu, "how": self.how}


def _processors(text: str) -> tuple[list[dict], dict]:
    procs, cur, common = [], {}, {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                procs.append(cur)
                cur = {}
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "processor" and cur:
            procs.append(cur)
            cur = {}
        if key in ("hardware", "model name") and "processor" not in cur and not cur:
            common[key] = value
        else:
            cur[key] = value
    if cur:
        procs.append(cur)
    return [p for p in procs if "processor" in p or "cpu part" in p or "features" in p], common


def parse(text: str) -> CpuFp16:
    """FP16 arithmetic from a /proc/cpuinfo text: every core must have it (threads may land on any core)."""
    procs, common = _processors(text)
    names = []
    for p in procs:
        part = PARTS.get((p.get("cpu implementer", "").lower(), p.get("cpu part", "").lower()))
        names.append(part[0] if part else (f"CPU part {p['cpu part']}" if "cpu part" in p else
                                           p.get("model name", "unknown core")))
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    cores = " + ".join(f"{c} x {n}" for n, c in counts.items()) or "no processors listed"
    hw = common.get("hardware") or next((p["hardware"] for p in procs if "hardware" in p), None)
    cpu = f"{hw}: {cores}" if hw else cores
    if not any("cpu part" in p or "features" in p for p in procs):
        return CpuFp16(fp16=None, cpu=cpu, how="no ARM fields in /proc/cpuinfo")
    feats = [p["features"].split() for p in procs if "features" in p]
    if feats and len(feats) == len(procs):
        ok = all("asimdhp" in f and "fphp" in f for f in feats)
        return CpuFp16(fp16=ok, cpu=cpu, how="Features " + ("list asimdhp and fphp on every core" if ok else
                                                            "lack asimdhp/fphp on some core"))
    known = [PARTS.get((p.get("cpu implementer", "").lower(), p.get("cpu part", "").lower())) for p in procs]
    if known and all(k is not None for k in known):
        ok = all(k[1] for k in known)
        return CpuFp16(fp16=ok, cpu=cpu, how="CPU part codes (" + ("all" if ok else "not all") + " ARMv8.2 FP16 cores)")
    return CpuFp16(fp16=None, cpu=cpu, how="no Features line and unknown CPU parts")


def read(dev) -> CpuFp16:
    """The device's answer (``cat /proc/cpuinfo`` over its shell)."""
    r = dev.shell(["cat", "/proc/cpuinfo"], timeout=60)
    if r.code != 0:
        return CpuFp16(fp16=None, cpu="unknown CPU", how=f"/proc/cpuinfo unreadable: {r.output.strip()[:100]}")
    return parse(r.output)
