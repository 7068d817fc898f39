"""Fixed samples for snapshot tests: the screen must not depend on this machine or the clock."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from tui.adapters.libvirt.connection import demo_xml_path
from tui.adapters.libvirt.domxml import DomainInfo, parse_domain
from tui.adapters.libvirt.stats import GuestSample
from tui.adapters.local.hoststats import HostSample, NetRate
from tui.model.rates import History

GiB = 1024**3
WEB_UUID = "6b1c0a3e-0d7e-4c1a-9e1b-000000000000"


def demo_domains() -> list[DomainInfo]:
    """The shipped demo guests' static facts, parsed from demo.xml as the app would."""
    root = ET.parse(demo_xml_path()).getroot()
    return [parse_domain(ET.tostring(d, encoding="unicode")) for d in root.findall("domain")]


def histories() -> dict[str, History]:
    """A minute of made-up but fixed figures, so the charts have a shape."""
    out = {}
    for n, s in enumerate(guest_samples()):
        h = History()
        for i in range(60):
            wave = (i * (7 + n)) % 23
            h.cpu.append(float(wave * 4))
            h.mem.append(float(1_000_000 + wave * 10_000))
            h.disk.append(float(wave * 50_000))
            h.net.append(float((23 - wave) * 30_000))
        out[s.uuid] = h
    return out


def host_sample() -> HostSample:
    return HostSample(
        hostname="demo-host",
        t=100.0,
        per_cpu=(12.5, 47.0, 88.0, 3.0),
        cpu_total=37.6,
        mem_total=32 * GiB,
        mem_used=12 * GiB,
        mem_cached=6 * GiB,
        mem_available=18 * GiB,
        swap_total=4 * GiB,
        swap_used=512 * 1024**2,
        load=(1.25, 0.98, 0.71),
        uptime_s=3 * 86400 + 4 * 3600 + 5 * 60,
        disk_read_bps=1.5 * 1024**2,
        disk_write_bps=256 * 1024,
        nets=(NetRate("eth0", 120_000.0, 48_000.0), NetRate("virbr0", 2048.0, 1024.0)),
    )


def per_cpu_load(n: int) -> tuple[float, ...]:
    """``n`` fixed per-CPU loads with a shape: mostly idle, a busy block, a few pegged."""
    out = []
    for i in range(n):
        wave = (i * 37 + (i // 8) * 11) % 100
        if i % 16 in (3, 4):
            wave = 97.0 + (i % 3)
        elif i % 5 == 0:
            wave = wave / 10
        out.append(round(float(wave), 1))
    return tuple(out)


def host_sample_cpus(n: int) -> HostSample:
    """The fixed host sample with ``n`` CPUs, and the interfaces a KVM host has (a physical
    NIC, a bridge, guests' taps, ifb mirrors that must not be listed, a veth)."""
    loads = per_cpu_load(n)
    nets = (
        NetRate("eno1", 12_400_000.0, 3_100_000.0, "physical"),
        NetRate("ifb0", 0.0, 0.0, "ifb"),
        NetRate("veth1a2b", 2_000.0, 1_000.0, "virtual"),
        NetRate("virbr0", 880_000.0, 1_200_000.0, "bridge"),
        NetRate("vnet0", 52_000.0, 4_096.0, "vnet"),
        NetRate("vnet1", 15_000.0, 22_000.0, "vnet"),
    )
    return dataclasses.replace(
        host_sample(),
        per_cpu=loads,
        cpu_total=round(sum(loads) / n, 1),
        mem_total=512 * GiB if n >= 64 else 32 * GiB,
        mem_available=301 * GiB if n >= 64 else 18 * GiB,
        load=(n * 0.31, n * 0.28, n * 0.25),
        nets=nets,
    )


def guest_samples() -> list[GuestSample]:
    """Figures for the demo guests (the test driver itself reports only their state)."""
    rows = [
        (
            "web-frontend",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000000",
            "running",
            1,
            2,
            23.4,
            2048,
            1650,
            900,
            52_000.0,
            4096.0,
            880_000.0,
            1_200_000.0,
            7200.0,
        ),
        (
            "db-primary",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000001",
            "running",
            1,
            4,
            71.9,
            4096,
            3900,
            3100,
            3_400_000.0,
            9_100_000.0,
            15_000.0,
            22_000.0,
            86400.0 * 12,
        ),
        (
            "build-runner",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000002",
            "paused",
            3,
            2,
            None,
            1024,
            1000,
            None,
            None,
            None,
            None,
            None,
            600.0,
        ),
        (
            "router-lab",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000004",
            "running",
            1,
            1,
            2.1,
            512,
            180,
            None,
            0.0,
            0.0,
            640.0,
            512.0,
            45.0,
        ),
        (
            "archive",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000005",
            "shut off",
            5,
            1,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ),
        (
            "win11-desktop",
            "6b1c0a3e-0d7e-4c1a-9e1b-000000000003",
            "shut off",
            5,
            4,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ),
    ]
    maxmem = {
        "web-frontend": 2048,
        "db-primary": 4096,
        "build-runner": 1024,
        "router-lab": 512,
        "archive": 512,
        "win11-desktop": 8192,
    }
    out = []
    for name, uuid, state, code, vcpus, cpu, cur, rss, used, rd, wr, rx, tx, up in rows:
        out.append(
            GuestSample(
                name=name,
                uuid=uuid,
                state=state,
                state_code=code,
                reason=1,
                vcpus=vcpus,
                cpu_pct=cpu,
                cpu_host_pct=None if cpu is None else cpu * vcpus / 8,
                mem_cur_kib=None if cur is None else cur * 1024,
                mem_max_kib=maxmem[name] * 1024,
                rss_kib=None if rss is None else rss * 1024,
                guest_used_kib=None if used is None else used * 1024,
                rd_bps=rd,
                wr_bps=wr,
                rx_bps=rx,
                tx_bps=tx,
                uptime_s=up,
            )
        )
    return out


def usb_devices() -> list:  # type: ignore[type-arg]
    from tui.model.usb import UsbDevice

    return [
        UsbDevice(
            "/sys/devices/pci0000:00/usb1",
            "usb1",
            1,
            1,
            0x1D6B,
            0x0002,
            "Linux Foundation",
            "2.0 root hub",
            speed="480",
        ),
        UsbDevice(
            "/sys/devices/pci0000:00/usb1/1-1",
            "1-1",
            1,
            4,
            0x046D,
            0xC52B,
            "Logitech, Inc.",
            "Unifying Receiver",
            speed="12",
        ),
        UsbDevice(
            "/sys/devices/pci0000:00/usb1/1-2",
            "1-2",
            1,
            10,
            0x0781,
            0x5581,
            "SanDisk Corp.",
            "Ultra",
            "4C530001",
            speed="480",
        ),
        UsbDevice(
            "/sys/devices/pci0000:00/usb2/2-3",
            "2-3",
            2,
            9,
            0x0403,
            0x6001,
            "FTDI",
            "FT232 Serial (UART) IC",
            "A50285BI",
            speed="12",
        ),
    ]


class RunnerApp:
    """Mixin for stand-in apps: the ``runner`` screens and features submit blocking work to,
    as KvmDeckApp has (daemon threads; failures collected in ``failures``)."""

    runner: object = None
    failures: list[tuple[str, BaseException]]

    def on_mount(self) -> None:
        import asyncio

        from tui.core.runner import Runner

        self.failures = []
        self.runner = Runner(asyncio.get_running_loop(), lambda n, e: self.failures.append((n, e)))
