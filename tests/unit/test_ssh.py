"""SSH board targets, board descriptions from /proc and /sys text, the pkill pattern."""
import re

import pytest

from toolkit.devices.base import self_excluding
from toolkit.devices.ssh import BadTarget, _classify, board_info, parse_target, Target

PI4_CPUINFO = "\n".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n" for i in range(4)
) + "\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


@pytest.mark.parametrize("spec, want", [
    ("pi@192.168.1.20", Target("pi", "192.168.1.20", 22)),
    ("ssh:pi@board.local:2222", Target("pi", "board.local", 2222)),
    ("ubuntu@[fe80::1]:2200", Target("ubuntu", "fe80::1", 2200)),
    ("root@[::1]", Target("root", "::1", 22)),
])
def test_targets(spec, want):
    assert parse_target(spec) == want


def test_serial_and_scp_paths():
    assert parse_target("pi@h").serial == "pi@h" and parse_target("pi@h:2222").serial == "pi@h:2222"
    t = parse_target("u@[::1]:2200")
    assert t.serial == "u@[::1]:2200" and t.scp_path("/tmp/x") == "u@[::1]:/tmp/x" and t.login == "u@::1"


@pytest.mark.parametrize("spec, needle", [
    ("192.168.1.20", "no valid user name"), ("pi@", "not a host name"), ("pi@host;reboot", "not a host name"),
    ("pi@-oProxyCommand=x", "not a host name"), ("pi@h:0", "port '0'"), ("pi@h:22x", "port '22x'"),
    ("$(id)@h", "no valid user name"), ("pi@[::1", "bad bracketed IPv6"),
])
def test_bad_targets_are_refused_before_any_ssh(spec, needle):
    with pytest.raises(BadTarget, match=re.escape(needle)) as e:
        parse_target(spec)
    assert "USER@HOST[:PORT]" in str(e.value)


def test_a_raspberry_pi_4b_description():
    info = board_info("pi@h", {
        "uname -m": "aarch64", "cat /proc/cpuinfo": PI4_CPUINFO,
        "cat /sys/firmware/devicetree/base/model": "Raspberry Pi 4 Model B Rev 1.4\x00",
        "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq": "1800000\n1800000\n1800000\n1800000",
        "cat /etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"',
        "cat /proc/meminfo": "MemTotal:        3884332 kB\nMemFree:  100 kB",
        "df -k /tmp/mlite /tmp": "Filesystem 1K-blocks Used Available Use% Mounted on\n/dev/root 30000000 1 20000000 1% /",
        "nproc": "4", "uname -n": "raspberrypi"})
    assert (info.model, info.soc, info.abi, info.cores) == ("Raspberry Pi 4 Model B Rev 1.4", "Cortex-A72", "aarch64", 4)
    assert info.max_freq_mhz == [1800] * 4 and info.mem_bytes == 3884332 * 1024 and info.free_bytes == 20000000 * 1024
    assert info.os == "Debian GNU/Linux 12 (bookworm)" and not info.emulated and info.kind == "ssh"


def test_qemu_user_shows_the_hosts_cpuinfo_and_is_marked_emulated():
    info = board_info("b", {"uname -m": "aarch64", "nproc": "2", "uname -n": "vm",
                            "cat /proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"})
    assert info.emulated and info.soc == "qemu-user aarch64 on AMD EPYC" and info.model == "vm"
    assert info.max_freq_mhz is None and info.mem_bytes is None and info.os is None      # unreadable: unknown


def test_a_32_bit_board_gets_the_armv7_abi():
    assert board_info("b", {"uname -m": "armv7l"}).abi == "armeabi-v7a"


@pytest.mark.parametrize("stderr, kind", [
    ("Host key verification failed.", "HostKeyError"),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "HostKeyError"),
    ("root@127.0.0.1: Permission denied (publickey).", "AuthError"),
    ("ssh: connect to host 127.0.0.1 port 1: Connection refused", "Unreachable"),
    ("ssh: Could not resolve hostname nope: Name or service not known", "Unreachable"),
    ("Connection to 127.0.0.1 closed by remote host.", "DeviceLost"),
    ("client_loop: send disconnect: Broken pipe", "DeviceLost"),
])
def test_ssh_messages_are_classified(stderr, kind):
    e = _classify(parse_target("root@127.0.0.1"), stderr, "copy")
    assert type(e).__name__ == kind and "\n" not in str(e)


def test_pkill_pattern_matches_the_runner_but_not_the_shell_carrying_it():
    pat = self_excluding("/tmp/mlite/mlite-arm-runner")
    assert re.search(pat, "/tmp/mlite/mlite-arm-runner --optimized_model_file=m.nb")
    assert not re.search(pat, f"sh -c pkill -f '{pat}' 2>&1; echo __MLITE_EXIT__$?")
    assert re.search(self_excluding("a.b"), "a.b") and not re.search(self_excluding("a.b"), "axb")
