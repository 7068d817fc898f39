"""The display doctor: what a guest's SPICE setup can and cannot deliver, and how to fix it.

:func:`display_findings` is pure: it reads :class:`~tui.model.domain.DomainInfo` (its
``graphics`` and ``display``) and says, one :class:`~tui.model.display.Finding` per fact,
whether the viewer can reach the display, whether a password is set (never its value), and
whether the guest has what the agent (clipboard, resolution), USB redirection and audio need.
The detail screen and ``kvmdeck doctor --guest`` show the same findings. No libvirt here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tui.model.display import Finding, Level
from tui.model.domain import DisplayInfo, DomainInfo, Graphics
from tui.util import option_words, shell_command

__all__ = ["Finding", "Level", "display_findings", "format_json", "format_text", "verdict"]

MAKE_READY = "S in the guest detail (make SPICE-ready)"
NEXT_BOOT = "added to the saved config — takes effect at the next boot (shut down, then start)"
_LOOPBACK = ("127.", "::1", "localhost")
_WILDCARD = ("0.0.0.0", "::", "")
_XHCI = ("qemu-xhci", "nec-xhci")
_GOOD_VIDEO = ("qxl", "virtio")


def _pick(graphics: Iterable[Graphics]) -> Graphics | None:
    gs = list(graphics)
    return next((g for g in gs if g.type == "spice"), None) or next(
        (g for g in gs if g.type == "vnc"), None
    )


def _graphics(info: DomainInfo, g: Graphics | None) -> Finding:
    kinds = sorted({x.type for x in info.graphics})
    if g is None:
        shown = ", ".join(kinds) or "none"
        return Finding(
            "Graphics",
            Level.FAIL,
            f"no SPICE or VNC display (graphics: {shown})",
            f"{MAKE_READY}, or "
            + shell_command(
                "virt-xml", "--add-device", "--graphics", "spice,listen=127.0.0.1", name=info.name
            ),
        )
    if g.type == "vnc":
        return Finding(
            "Graphics",
            Level.WARN,
            "VNC only: no audio, no USB redirection, no clipboard agent (SPICE has them)",
            f"{MAKE_READY}: it adds SPICE graphics on 127.0.0.1",
        )
    also = " (and VNC)" if "vnc" in kinds else ""
    return Finding("Graphics", Level.OK, f"SPICE{also}")


def _listen(g: Graphics, d: DisplayInfo, remote: bool, client_local: bool, name: str) -> Finding:
    if g.type in d.listen_none:
        return Finding(
            "Listen",
            Level.FAIL,
            "listens nowhere (<listen type='none'/>): no viewer can connect",
            shell_command("virt-xml", "--edit", "--graphics", "listen=127.0.0.1", name=name),
        )
    if g.socket and g.port is None and g.tls_port is None:
        if remote:
            return Finding(
                "Listen", Level.OK, f"UNIX socket {g.socket}: kvmdeck forwards it over ssh"
            )
        if client_local:
            return Finding("Listen", Level.OK, f"UNIX socket {g.socket} on this host")
        return Finding(
            "Listen",
            Level.INFO,
            f"UNIX socket {g.socket}: reachable only on this host",
            "from your workstation use the ssh -L command that v shows",
        )
    addr = g.listen or ""
    if addr.startswith(_LOOPBACK):
        if remote:
            return Finding(
                "Listen",
                Level.OK,
                f"{addr} on the host: kvmdeck reaches it through an ssh tunnel (qemu+ssh://)",
            )
        if client_local:
            return Finding("Listen", Level.OK, f"{addr}: the viewer runs on this host")
        return Finding(
            "Listen",
            Level.INFO,
            f"{addr}: only on this host (safe); a workstation needs an ssh tunnel",
            "v shows the ssh and remote-viewer commands for your workstation",
        )
    if addr in _WILDCARD:
        shown = addr or "every interface"
        if d.password_set is False and g.tls_port is None:
            return Finding(
                "Listen",
                Level.WARN,
                f"{shown}: open to the network without a password or TLS",
                "listen on 127.0.0.1 ("
                + shell_command("virt-xml", "--edit", "--graphics", "listen=127.0.0.1", name=name)
                + ") and use the ssh tunnel, or set a password",
            )
        return Finding("Listen", Level.OK, f"{shown}: reachable from the network")
    return Finding(
        "Listen",
        Level.INFO,
        f"{addr}: the viewer must reach this address (routes, firewall)",
        "if it cannot, listen on 127.0.0.1 and use the ssh tunnel",
    )


def _ports(g: Graphics) -> Finding:
    if g.port is None and g.tls_port is None:
        if g.socket:
            return Finding("Ports", Level.INFO, "none (UNIX socket)")
        if g.autoport:
            return Finding("Ports", Level.INFO, "assigned when the guest starts (autoport)")
        return Finding("Ports", Level.WARN, "no port and no socket", "set autoport='yes'")
    parts = []
    if g.port is not None:
        parts.append(f"port {g.port}")
    if g.tls_port is not None:
        parts.append(f"TLS port {g.tls_port}")
    if g.port is None:
        return Finding(
            "Ports",
            Level.INFO,
            f"{parts[0]} only",
            "the viewer needs the host's SPICE CA certificate (--spice-ca-file)",
        )
    return Finding("Ports", Level.OK, ", ".join(parts))


def _password(d: DisplayInfo, g: Graphics, name: str) -> Finding:
    if d.password_set:
        return Finding("Password", Level.OK, "set (its value is never shown)")
    if d.password_set is None:
        return Finding(
            "Password",
            Level.INFO,
            "not known: libvirt shows it only to a read-write connection",
            shell_command("kvmdeck", "doctor", *option_words("--guest", name))
            + " (read-write) tells",
        )
    local = (g.listen or "").startswith(_LOOPBACK) or bool(g.socket and g.port is None)
    if local:
        return Finding("Password", Level.INFO, "none (the display is reachable only on the host)")
    return Finding(
        "Password",
        Level.WARN,
        "none",
        shell_command("virsh", "edit", name=name)
        + ": add passwd='…' to <graphics>, or listen on 127.0.0.1",
    )


def _video(d: DisplayInfo, name: str) -> Finding:
    models = [m or "default" for m in d.video]
    if not models or models == ["none"]:
        return Finding(
            "Video",
            Level.WARN,
            "no video device: the console stays black",
            shell_command("virt-xml", "--add-device", "--video", "qxl", name=name),
        )
    if any(m in _GOOD_VIDEO for m in models):
        return Finding("Video", Level.OK, ", ".join(models))
    return Finding(
        "Video",
        Level.WARN,
        f"{', '.join(models)}: the guest's resolution does not follow the viewer's window",
        shell_command("virt-xml", "--edit", "--video", "model.type=qxl", name=name)
        + " (takes effect at the next boot)",
    )


def _waiting(findings: list[Finding], saved: DisplayInfo | None) -> list[Finding]:
    """A device the live guest lacks but its saved config has (S on a running guest): not a
    problem to fix again, a change that waits for the next boot."""
    if saved is None:
        return findings
    has = {
        "Agent channel": saved.agent_channel,
        "USB redirection": bool(saved.usbredir),
        "Sound": bool(saved.sound),
        "USB controller": any(m in _XHCI for m in saved.usb_controllers),
    }
    return [
        Finding(f.name, Level.INFO, f"{f.detail.split(':', 1)[0]} now; {NEXT_BOOT}")
        if f.status in (Level.WARN, Level.FAIL) and has.get(f.name)
        else f
        for f in findings
    ]


def display_findings(
    info: DomainInfo, remote: bool, client_local: bool, saved: DisplayInfo | None = None
) -> list[Finding]:
    """The display doctor's findings for one guest (pure).

    ``remote``: the hypervisor is reached over the network (kvmdeck tunnels over ssh).
    ``client_local``: the viewer runs on the hypervisor host itself (a local display).
    ``saved``: a running guest's saved config (devices there wait for the next boot).
    """
    return _waiting(_findings(info, remote, client_local), saved)


def _findings(info: DomainInfo, remote: bool, client_local: bool) -> list[Finding]:
    d = info.display or DisplayInfo()
    g = _pick(info.graphics)
    out = [_graphics(info, g)]
    if g is not None:
        out += [
            _listen(g, d, remote, client_local, info.name),
            _ports(g),
            _password(d, g, info.name),
        ]
    out.append(_video(d, info.name))
    if d.agent_channel:
        out.append(
            Finding(
                "Agent channel",
                Level.OK,
                "com.redhat.spice.0 (clipboard, resolution; spice-vdagent in the guest)",
            )
        )
    else:
        out.append(
            Finding(
                "Agent channel",
                Level.WARN,
                "none: no shared clipboard, no automatic resolution",
                f"{MAKE_READY}, or "
                + shell_command(
                    "virt-xml", "--add-device", "--channel", "spicevmc", name=info.name
                ),
            )
        )
    if d.usbredir:
        plural = "s" if d.usbredir > 1 else ""
        out.append(
            Finding(
                "USB redirection",
                Level.OK,
                f"{d.usbredir} usbredir channel{plural}: {d.usbredir} viewer device{plural} at a time",
            )
        )
    else:
        out.append(
            Finding(
                "USB redirection",
                Level.WARN,
                "no usbredir channel: the viewer cannot redirect USB (greyed out)",
                f"{MAKE_READY}, or "
                + shell_command(
                    "virt-xml", "--add-device", "--redirdev", "usb,type=spicevmc", name=info.name
                ),
            )
        )
    if d.sound:
        out.append(Finding("Sound", Level.OK, ", ".join(m or "default" for m in d.sound)))
    else:
        out.append(
            Finding(
                "Sound",
                Level.WARN,
                "none: no audio in the viewer",
                f"{MAKE_READY}, or "
                + shell_command("virt-xml", "--add-device", "--sound", "ich9", name=info.name),
            )
        )
    models = [m or "default" for m in d.usb_controllers]
    if any(m in _XHCI for m in models):
        out.append(Finding("USB controller", Level.OK, f"{', '.join(models)} (USB 3)"))
    elif not models or models == ["none"]:
        out.append(
            Finding(
                "USB controller",
                Level.FAIL if d.usbredir else Level.WARN,
                "none: no USB at all, so no USB redirection",
                f"{MAKE_READY}: it adds a qemu-xhci controller",
            )
        )
    else:
        out.append(
            Finding(
                "USB controller",
                Level.WARN,
                f"{', '.join(models)}: USB 1/2 only; redirected USB 3 devices need qemu-xhci",
                f"{MAKE_READY}: it adds a qemu-xhci controller",
            )
        )
    return out


def verdict(findings: Iterable[Finding]) -> Level:
    """The worst status: FAIL, then WARN, else OK (INFO lines are facts, not problems)."""
    levels = {f.status for f in findings}
    if Level.FAIL in levels:
        return Level.FAIL
    if Level.WARN in levels:
        return Level.WARN
    return Level.OK


MARK = {Level.OK: " ok ", Level.WARN: "warn", Level.FAIL: "FAIL", Level.INFO: "info"}


def format_text(guest: str, findings: list[Finding], note: str = "") -> str:
    worst = verdict(findings)
    head = {
        Level.OK: "SPICE-ready",
        Level.WARN: "not fully SPICE-ready",
        Level.FAIL: "no usable SPICE display",
    }[worst]
    lines = [f"Display of {guest}: {head}"]
    if note:
        lines.append(note)
    lines.append("")
    width = max((len(f.name) for f in findings), default=0)
    for f in findings:
        lines.append(f"[{MARK[f.status]}] {f.name:<{width}}  {f.detail}")
        if f.fix and f.status is not Level.OK:
            lines.append(f"       {'':<{width}}  fix: {f.fix}")
    return "\n".join(lines) + "\n"


def format_json(guest: str, findings: list[Finding], **extra: object) -> str:
    doc = {
        "guest": guest,
        "verdict": str(verdict(findings)),
        **extra,
        "findings": [f.to_dict() for f in findings],
    }
    return json.dumps(doc, indent=2) + "\n"
