"""--demo only: the storage operations libvirt's test driver refuses ("this function is not
supported by the connection driver"), simulated so that the demo's storage screen works.

:class:`DemoStorage` *is* :class:`tui.adapters.libvirt.storage.LibvirtStorage`, run on the
test driver's connection seen through a thin proxy that answers the three calls the test
driver lacks; every check, refusal, message, progress report and rollback is the real
adapter's own code:

- ``virStorageVolUpload``: the real upload reads the local file for real, chunk by chunk, and
  reports real progress; the demo's stream counts the bytes it is sent and, when it is
  finished, the test driver's volume gets them as its allocation (and a qcow2's virtual size,
  from the header, as its capacity, as libvirtd reports after an upload). A cancel or a
  failure deletes the half-made volume, as it does on libvirtd.
- ``virStorageVolResize``: the test driver's volume is defined again with the new capacity
  (same allocation, format and path); the real adapter has refused a shrink before that.
- ``virDomainUpdateDeviceFlags`` (CD-ROM media): the saved config is redefined in the test
  driver with the new medium (``defineXML``); the running guest's medium, which the test
  driver cannot change, is kept by :class:`DemoMedia` and shown wherever the live XML is read
  (this family, and the guest's detail through :meth:`DemoMedia.apply_info`) until the guest
  stops.

Successful simulated results end in "(demo)". Built only by
:meth:`tui.adapters.demo.host.DemoHost.capabilities` and only for ``test:`` URIs: a real
host never gets it (the constructor refuses any other URI).
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

import libvirt

from tui.adapters.demo.media import DemoMedia, with_media
from tui.adapters.libvirt.connection import is_test_driver
from tui.adapters.libvirt.held import Using, counted
from tui.adapters.libvirt.storage import LibvirtStorage

DEMO_MARK = " (demo)"
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
QCOW2_MAGIC = b"QFI\xfb"


def _error(message: str) -> libvirt.libvirtError:
    """A libvirtError saying ``message`` (libvirtError() takes the thread's last libvirt
    error instead when there is one: reset it first)."""
    libvirt.virResetLastError()
    return libvirt.libvirtError(message)


def _set_size(vol_xml: str, tag: str, value: int) -> str:
    new, n = re.subn(rf"<{tag}( unit='bytes')?>\d+</{tag}>", f"<{tag}>{value}</{tag}>", vol_xml)
    if n != 1:
        raise _error(f"cannot set the {tag} of the demo volume (unexpected XML)")
    return new


def _redefine(vol: libvirt.virStorageVol, capacity: int | None, allocation: int | None) -> None:
    """The test driver's volume defined again with a new capacity and/or allocation; put back
    as it was if the new definition is refused."""
    old = vol.XMLDesc(0)
    new = old
    if capacity is not None:
        new = _set_size(new, "capacity", capacity)
    if allocation is not None:
        new = _set_size(new, "allocation", allocation)
    pool = vol.storagePoolLookupByVolume()
    vol.delete(0)
    try:
        pool.createXML(new, 0)
    except libvirt.libvirtError:
        pool.createXML(old, 0)
        raise


class _Stream:
    """``conn.newStream()``: takes what the real upload sends into a volume, counting it."""

    def __init__(self) -> None:
        self.vol: libvirt.virStorageVol | None = None
        self.length = 0
        self.done = 0
        self.head = b""

    def send(self, data: bytes) -> int:
        if self.vol is None:
            raise _error("stream is not open for an upload")
        if self.done + len(data) > self.length:
            raise _error(f"stream got more than the {self.length} bytes announced")
        if len(self.head) < 32:
            self.head += bytes(data[: 32 - len(self.head)])
        self.done += len(data)
        return len(data)

    def finish(self) -> None:
        if self.vol is None:
            raise _error("stream is not open for an upload")
        if self.done != self.length:
            raise _error(f"stream ended after {self.done} of {self.length} bytes")
        capacity = None
        if self.head[:4] == QCOW2_MAGIC and len(self.head) >= 32:
            capacity = struct.unpack(">Q", self.head[24:32])[0]  # the virtual size
        _redefine(self.vol, capacity, self.done)

    def abort(self) -> None:
        self.vol = None


class _Vol:
    def __init__(self, vol: libvirt.virStorageVol) -> None:
        self._vol = vol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._vol, name)

    def resize(self, capacity: int, flags: int = 0) -> int:
        if flags:
            raise _error("the demo resizes volumes without flags only")
        _redefine(self._vol, capacity, None)
        return 0

    def upload(self, stream: _Stream, offset: int, length: int, flags: int = 0) -> int:
        if not isinstance(stream, _Stream) or offset or flags:
            raise _error("the demo uploads whole volumes through its own stream only")
        stream.vol, stream.length = self._vol, length
        return 0


class _Pool:
    def __init__(self, pool: libvirt.virStoragePool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def createXML(self, xml: str, flags: int = 0) -> _Vol:
        return _Vol(self._pool.createXML(xml, flags))

    def storageVolLookupByName(self, name: str) -> _Vol:
        return _Vol(self._pool.storageVolLookupByName(name))


class _Dom:
    def __init__(self, dom: libvirt.virDomain, conn: _Conn) -> None:
        self._dom = dom
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dom, name)

    def XMLDesc(self, flags: int = 0) -> str:
        xml: str = self._dom.XMLDesc(flags)
        if flags & libvirt.VIR_DOMAIN_XML_INACTIVE:
            return xml
        uuid, media = self._dom.UUIDString(), self._conn.media
        if not self._dom.isActive():
            media.forget(uuid)  # shut off: the live XML is the (redefined) config
            return xml
        return media.apply_xml(uuid, xml)

    def updateDeviceFlags(self, xml: str, flags: int = 0) -> int:
        """A CD-ROM's new medium, as ``media_xml`` made it (the only update the real
        adapter sends): the saved config redefined, the running guest's kept in DemoMedia."""
        disk = ET.fromstring(xml)
        t, src = disk.find("target"), disk.find("source")
        if disk.tag != "disk" or disk.get("device") != "cdrom" or t is None:
            raise _error("the demo changes CD-ROM media only")
        target = t.get("dev", "")
        path = src.get("file") if src is not None else None
        dom, conn = self._dom, self._conn
        running = bool(dom.isActive())
        if not flags & (LIVE | CONFIG):  # VIR_DOMAIN_AFFECT_CURRENT
            flags |= LIVE if running else CONFIG
        if flags & LIVE and not running:
            raise _error("Requested operation is not valid: domain is not running")
        if path and flags & LIVE:
            try:  # QEMU opens the file: on the test driver, it must be one of its volumes
                conn.real.storageVolLookupByPath(path)
            except libvirt.libvirtError:
                raise _error(
                    f"Cannot access storage file '{path}': No such file or directory"
                ) from None
        if flags & CONFIG:
            saved = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            conn.real.defineXML(with_media(saved, {target: path or ""}))
        if flags & LIVE:
            conn.media.put(dom.UUIDString(), target, path)
        conn.stale(dom.UUIDString())
        return 0


class _Conn:
    """The test driver's connection, with the calls above answered by the demo."""

    def __init__(
        self, conn: libvirt.virConnect, media: DemoMedia, stale: Callable[[str], None]
    ) -> None:
        self.real = conn
        self.media = media
        self.stale = stale

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def newStream(self, flags: int = 0) -> _Stream:
        return _Stream()

    def storagePoolLookupByName(self, name: str) -> _Pool:
        return _Pool(self.real.storagePoolLookupByName(name))

    def listAllDomains(self, flags: int = 0) -> list[_Dom]:
        return [_Dom(d, self) for d in self.real.listAllDomains(flags)]

    def lookupByUUIDString(self, uuid: str) -> _Dom:
        return _Dom(self.real.lookupByUUIDString(uuid), self)


class _Simulated:
    """``using()`` whose connection is the proxy (not a generator manager: see held.py)."""

    def __init__(self, inner: AbstractContextManager[libvirt.virConnect], conn: Any) -> None:
        self._inner = inner
        self._make = conn

    def __enter__(self) -> libvirt.virConnect:
        return cast(libvirt.virConnect, self._make(self._inner.__enter__()))

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)


class DemoStorage(LibvirtStorage):
    """The real storage family on a test-driver host, its missing calls simulated."""

    def __init__(
        self,
        using: Using,
        uri: str | None,
        media: DemoMedia,
        stale: Callable[[str], None] = lambda _uuid: None,
    ) -> None:
        if not is_test_driver(uri):
            raise ValueError(f"the demo's storage simulation is for test:// hosts only, not {uri}")

        def wrapped() -> AbstractContextManager[libvirt.virConnect]:
            return _Simulated(using(), lambda conn: _Conn(conn, media, stale))

        super().__init__(wrapped)
        self.media = media

    @counted
    def resize_volume(self, pool: str, name: str, capacity: int) -> str:
        said = super().resize_volume(pool, name, capacity)
        return said if "already" in said else said + DEMO_MARK

    @counted
    def upload(
        self,
        pool: str,
        name: str,
        source: str,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> str:
        return super().upload(pool, name, source, progress, cancelled) + DEMO_MARK

    @counted
    def insert_media(self, uuid: str, target: str, path: str) -> str:
        return super().insert_media(uuid, target, path) + DEMO_MARK

    @counted
    def eject_media(self, uuid: str, target: str) -> str:
        return super().eject_media(uuid, target) + DEMO_MARK


__all__ = ["DemoStorage"]
