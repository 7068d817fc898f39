"""The virtualization doctor, pure (see :mod:`tui.core.vt.report`)."""

from tui.core.vt.report import judge, remote_report, with_libvirt

__all__ = ["judge", "remote_report", "with_libvirt"]
