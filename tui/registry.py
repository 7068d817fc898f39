"""kvmdeck's action registry as plain data: every key, its binding id, where it works, and what it does.

The one source for the bindings, the command palette, the help screen, read-only gating, the
``[keymap]`` check and the README key table (``tests/test_actions.py`` compares them). It imports
neither textual nor rich, so :mod:`tui.config` can validate a keymap with it; the Textual side
(``Binding`` objects, the palette, refusing a key) is :mod:`tui.ui.actions`.

Keys are Textual key names (``question_mark``, ``slash``, ``ctrl+x``, ``X``); :func:`normalize_key`
turns what a user writes (``?``, ``/``) into them, the way ``App.set_keymap`` does.

To add an action: one :class:`Action` in :data:`ACTIONS` (scope, keys, action string, group),
a row in the README's Keys table, and the handler the action string names.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tui.keys import expand_keymap, key_label, key_problem, leader, normalize_key
from tui.registry_fleet import fleet_actions
from tui.registry_provision import PROVISION_SCOPES, provision_actions
from tui.registry_storage import STORAGE_SCOPES, storage_actions


@dataclass(frozen=True)
class Action:
    """One kvmdeck action and the keys that run it.

    ``action`` is the Textual action string, run in the namespace of the scope's screen (so
    ``app.help`` for handlers on the app, ``guest('start')`` for the main screen's). ``scope`` is where the keys work (see
    :data:`SCOPES`). ``mutating`` actions change a guest and are refused on a read-only
    connection, with ``refusal`` saying what ("start guests"). ``show``: in the footer, in
    ``priority`` order (lower first). ``group``: the help screen's section.
    """

    id: str
    keys: tuple[str, ...]
    title: str
    scope: str
    action: str
    mutating: bool = False
    confirm: bool = False
    show: bool = True
    priority: int = 50
    group: str = "General"
    description: str = ""
    label: str = ""  # footer text, short; the title when empty
    short: str = ""  # a shorter footer text, used before the label goes (narrow terminals)
    refusal: str = ""  # read-only: "restart without --readonly to <refusal>"

    @property
    def footer_label(self) -> str:
        return self.label or self.title


# scope -> where it works, as the README's "Where" column says it
SCOPES: dict[str, str] = {
    "global": "everywhere",
    "main": "main",
    "detail": "guest detail",
    "usb": "USB",
    "picker": "USB guest picker",
    "viewers": "viewers",
    "console": "console command dialog",
    "confirm": "confirmations",
    "snapshots": "snapshots", "snapshot_new": "new snapshot dialog",
    "doctor": "doctor",
    "hosts": "hosts", **STORAGE_SCOPES,  # storage, networks, their dialogs (registry_storage.py)
    "help": "help", **PROVISION_SCOPES,  # create, clone, delete, edit (registry_provision.py)
}  # fmt: skip

# Help sections, in this order.
GROUPS = ("General", "Guests", "View", "Consoles", "USB", "Storage", "Networks", "Dialogs")

# Global actions screens bind too, so they come first in the footer (Textual lists a screen's
# bindings before the app's) and work on modal screens (which hide the app's): help is bound on
# every screen but its own, where ``?`` closes it; the palette stays an app binding (priority).
SHARED: dict[str, tuple[str, ...]] = {
    "help": tuple(s for s in SCOPES if s not in ("global", "help")),
}

ACTIONS: tuple[Action, ...] = (
    # -- everywhere ----------------------------------------------------------------------
    Action("help", ("question_mark",), "Help: every key", "global", "app.help",
           priority=0, label="Help, all keys", short="Keys",
           description="help: every key, with its binding id"),
    Action("quit.ctrl_c", ("ctrl+c",), "Quit kvmdeck", "global", "app.quit", show=False,
           priority=91, description="quit, as in htop (also while typing a filter)"),
    Action("palette", ("ctrl+p",), "Command palette", "global", "app.command_palette",
           show=False, priority=90,
           description='command palette: every action, and "go to guest …"'),
    # -- main screen ---------------------------------------------------------------------
    Action("quit", ("q",), "Quit kvmdeck", "main", "app.quit", priority=1, label="Quit",
           description="quit"),
    Action("guest.detail", ("enter",), "Guest detail", "main", "detail",
           priority=5, group="Guests", label="Detail", short="Open",
           description="guest detail: XML summary, live charts, the guest's events"),
    Action("guest.start", ("s",), "Start guest", "main", "guest('start')",
           mutating=True, priority=10, group="Guests", label="Start",
           description="start the selected guest", refusal="start guests"),
    Action("guest.shutdown", ("h",), "Shut down guest (ACPI)", "main",
           "guest('shutdown')", mutating=True, priority=11, group="Guests",
           label="Shutdown", short="Shut", description="shut down (ACPI)",
           refusal="shut down guests"),
    Action("guest.reboot", ("r",), "Reboot guest (asks first)", "main", "guest('reboot')",
           mutating=True, confirm=True, priority=12, group="Guests", label="Reboot",
           description="reboot (ACPI), asks first", refusal="reboot guests"),
    Action("guest.pause", ("p",), "Pause / resume guest", "main", "guest('pause')",
           mutating=True, priority=13, group="Guests", label="Pause",
           description="pause / resume", refusal="pause or resume guests"),
    Action("guest.destroy", ("X",), "Force off guest (asks first)", "main",
           "guest('destroy')", mutating=True, confirm=True, priority=14,
           group="Guests", label="Force off", short="Off",
           description="force off (`destroy`), asks first", refusal="force off guests"),
    Action("guest.console", ("v",), "Open the SPICE console (remote-viewer)", "main",
           "console", priority=20, group="Consoles", label="Console", short="View",
           description="open the SPICE console (remote-viewer), or show the command to run"
           " elsewhere"),
    # Serial console and snapshots (issue 13): app.guest_feature(<binding id>) acts on the guest
    # selected (main) or shown (detail); the id keeps each mutating action string unique.
    Action("guest.serial", ("c",), "Open the serial console (virsh console; Ctrl+] returns)",
           "main", "app.guest_feature('guest.serial')", mutating=True, priority=22,
           group="Consoles", label="Serial", short="Tty",
           description="open the serial console in this terminal (`virsh console`);"
           " Ctrl+] returns to kvmdeck",
           refusal="open a serial console (it types into the guest)"),
    Action("guest.snapshots", ("z",), "Snapshots: tree, create, revert, delete", "main",
           "app.guest_feature('guest.snapshots')", priority=23, group="Guests",
           label="Snapshots", short="Snap",
           description="snapshots of the selected guest: tree, create, revert, delete"),
    Action("viewers", ("w",), "Open viewers: list, close", "main", "app.viewers",
           priority=21, group="Consoles", label="Viewers", short="Wins",
           description="open viewers: list, close"),
    Action("usb", ("u",), "USB devices: attach, detach, rules", "main", "app.usb",
           priority=30, group="USB", label="USB", description="USB devices"),
    Action("doctor", ("d",), "Virtualization doctor: KVM, IOMMU, USB", "main",
           "app.doctor", priority=40, group="View", label="Doctor", short="Doc",
           description="virtualization doctor"),
    Action("filter", ("slash",), "Filter guests by name", "main", "filter",
           priority=50, group="View", label="Filter", short="Find",
           description="filter guests by name; host:NAME for one host's (Esc clears)"),
    Action("sort.cpu", ("P",), "Sort by CPU", "main", "sort('cpu')", show=False,
           priority=60, group="View", description="sort by CPU; again reverses"),
    Action("sort.mem", ("M",), "Sort by memory", "main", "sort('mem')", show=False,
           priority=61, group="View", description="sort by memory; again reverses"),
    Action("sort.name", ("N",), "Sort by name", "main", "sort('name')", show=False,
           priority=62, group="View", description="sort by name; again reverses"),
    Action("sort.disk", ("B",), "Sort by disk (block)", "main", "sort('disk')",
           show=False, priority=63, group="View",
           description="sort by disk (block) rate; again reverses"),
    Action("sort.net", ("T",), "Sort by network (traffic)", "main", "sort('net')",
           show=False, priority=64, group="View",
           description="sort by network (traffic) rate; again reverses"),
    *fleet_actions(Action), *storage_actions(Action), *provision_actions(Action),  # 23; 21: S L n C D e E
    Action("guest.first", ("home",), "First guest", "main", "first_guest", show=False,
           priority=65, group="View", description="select the first guest"),
    Action("guest.last", ("end",), "Last guest", "main", "last_guest", show=False,
           priority=66, group="View", description="select the last guest"),
    Action("refresh.faster", ("plus",), "Refresh faster", "main", "refresh_rate(-1)",
           show=False, priority=70, group="View", description="refresh faster"),
    Action("refresh.slower", ("minus",), "Refresh slower", "main", "refresh_rate(1)",
           show=False, priority=71, group="View", description="refresh slower"),
    # -- guest detail ----------------------------------------------------------------------
    Action("detail.back", ("escape", "q"), "Back to the guest list", "detail",
           "app.pop_screen", priority=1, group="Dialogs", label="Back",
           description="back to the guest list"),
    Action("detail.spice_ready", ("S",), "Make this guest SPICE-ready (shows the XML diff first)",
           "detail", "spice_ready", mutating=True, confirm=True, priority=20,
           group="Consoles", label="SPICE-ready", short="SPICE",
           description="make the guest SPICE-ready: add the agent channel, USB redirection,"
           " sound and a USB 3 controller to its saved config (XML diff, asks first)",
           refusal="change a guest's saved config"),
    # The main screen's lifecycle and console keys, for the guest shown (they delegate to
    # the main screen's handlers; their own action names keep mutating names unique).
    Action("detail.start", ("s",), "Start this guest", "detail", "lifecycle('start')",
           mutating=True, priority=10, group="Guests", label="Start",
           description="start this guest", refusal="start guests"),
    Action("detail.shutdown", ("h",), "Shut down this guest (ACPI)", "detail",
           "lifecycle('shutdown')", mutating=True, priority=11, group="Guests",
           label="Shutdown", short="Shut", description="shut down (ACPI)",
           refusal="shut down guests"),
    Action("detail.reboot", ("r",), "Reboot this guest (asks first)", "detail",
           "lifecycle('reboot')", mutating=True, confirm=True, priority=12, group="Guests",
           label="Reboot", description="reboot (ACPI), asks first", refusal="reboot guests"),
    Action("detail.pause", ("p",), "Pause / resume this guest", "detail",
           "lifecycle('pause')", mutating=True, priority=13, group="Guests", label="Pause",
           description="pause / resume", refusal="pause or resume guests"),
    Action("detail.destroy", ("X",), "Force off this guest (asks first)", "detail",
           "lifecycle('destroy')", mutating=True, confirm=True, priority=14,
           group="Guests", label="Force off", short="Off",
           description="force off (`destroy`), asks first", refusal="force off guests"),
    Action("detail.console", ("v",), "Open this guest's SPICE console", "detail", "console",
           priority=15, group="Consoles", label="Console", short="View",
           description="open the SPICE console, or show the command to run elsewhere"),
    Action("detail.serial", ("c",), "Open this guest's serial console (Ctrl+] returns)",
           "detail", "app.guest_feature('detail.serial')", mutating=True, priority=16,
           group="Consoles", label="Serial", short="Tty",
           description="open the serial console in this terminal; Ctrl+] returns",
           refusal="open a serial console (it types into the guest)"),
    Action("detail.snapshots", ("z",), "Snapshots of this guest", "detail",
           "app.guest_feature('detail.snapshots')", priority=17, group="Guests",
           label="Snapshots", short="Snap", description="snapshots of this guest: tree, create, revert, delete"),
    # -- snapshots of a guest, and the new snapshot dialog ----------------------------------
    Action("snapshots.back", ("escape", "q"), "Back", "snapshots", "close", priority=1,
           group="Guests", label="Back", description="back to where it was opened"),
    Action("snapshots.create", ("n",), "Create a snapshot (name, description, memory)",
           "snapshots", "snapshot_create", mutating=True, priority=10, group="Guests", label="New",
           description="create a snapshot: name, description, with or without memory state",
           refusal="take snapshots"),
    Action("snapshots.revert", ("r",), "Revert to the selected snapshot (asks first)",
           "snapshots", "snapshot_revert", mutating=True, confirm=True, priority=11, group="Guests",
           label="Revert", description="revert the guest to the selected snapshot, asks first",
           refusal="revert guests to snapshots"),
    Action("snapshots.delete", ("d", "delete"), "Delete the selected snapshot (asks first)",
           "snapshots", "snapshot_delete", mutating=True, confirm=True, priority=12, group="Guests",
           label="Delete", description="delete the selected snapshot, asks first",
           refusal="delete snapshots"),
    Action("snapshot_new.cancel", ("escape",), "Cancel", "snapshot_new", "cancel",
           priority=1, group="Guests", label="Cancel",
           description="cancel (Enter in a field creates the snapshot)"),
    Action("snapshot_new.memory", ("ctrl+t",), "Why with / without memory state",
           "snapshot_new", "toggle_memory", priority=10, group="Guests", label="Memory?",
           description="why the snapshot holds memory (running guest) or not (shut off):"
           " libvirt 9 takes no other kind"),
    # -- USB screen and its guest picker -----------------------------------------------------
    Action("usb.back", ("escape", "q"), "Back to the guest list", "usb", "go_back",
           priority=1, group="USB", label="Back", description="back to the guest list"),
    Action("usb.attach", ("a",), "Attach the USB device to a guest", "usb", "attach",
           mutating=True, priority=10, group="USB", label="Attach",
           description="attach the selected device to a guest (picker)",
           refusal="attach USB devices"),
    Action("usb.detach", ("d",), "Detach the USB device", "usb", "detach", mutating=True,
           priority=11, group="USB", label="Detach",
           description="detach it from the guest that owns it",
           refusal="detach USB devices"),
    Action("usb.rule", ("R",), "Always attach this device to a guest (rule)", "usb", "rule",
           mutating=True, priority=12, group="USB", label="Rule",
           description="always attach this device to that guest (a rule; in the picker"
           " Space: persistent, m: by serial, ids or port)", refusal="change USB rules"),
    Action("usb.forget_rule", ("D",), "Forget the selected rule (or this device's)", "usb",
           "forget_rule", mutating=True, priority=13, group="USB", label="Forget rule", short="Forget",
           description="forget the rule selected in the rules list (Tab; plugged in or not, asks"
           " first), or the rule(s) matching the selected device", refusal="change USB rules"),
    Action("usb.root_hubs", ("r",), "Show / hide root hubs", "usb", "toggle_root_hubs",
           priority=20, group="USB", label="Root hubs", short="Hubs", description="show / hide root hubs"),
    Action("usb.doctor", ("w",), "Why an attach may fail (USB doctor)", "usb", "doctor",
           priority=14, group="USB", label="Doctor",
           description="the USB doctor: why attaching the selected device may fail (node"
           " permissions, AppArmor/SELinux, USB 3 without xhci, held by a guest, root hub),"
           " each with its fix; with no device selected (or from the rules list) the host's"
           " report: USB bus, udev, permissions, AppArmor/SELinux, the guests' USB controllers"),
    Action("picker.cancel", ("escape", "q"), "Cancel", "picker", "cancel", priority=1,
           group="USB", description="cancel (Enter picks the guest)"),
    Action("picker.persistent", ("space",), "Persistent: keep it in the saved config",
           "picker", "toggle_persistent", show=False, priority=10, group="USB",
           label="Persistent",
           description="persistent: also keep it in the guest's saved config"),
    Action("picker.match", ("m",), "Rule: match the device by serial, ids or port", "picker",
           "cycle_match", show=False, priority=11, group="USB", label="Match by",
           description="a rule (R): name the device by serial, by vendor:product, or by port"
           " alone (whatever is plugged in there)"),
    # -- consoles: the viewers list and the client command dialog -----------------------------
    Action("viewers.close", ("x", "delete"), "Close the selected viewer", "viewers",
           "close_viewer", priority=10, group="Consoles", label="Close viewer", short="Close",
           description="close the selected viewer"),
    Action("viewers.refresh", ("r",), "Refresh the viewers list", "viewers", "refresh",
           priority=11, group="Consoles", label="Refresh", description="refresh the list"),
    Action("viewers.dismiss", ("escape", "q"), "Close the viewers list", "viewers",
           "dismiss", priority=1, group="Consoles", label="Back",
           description="back to the guest list"),
    Action("console.copy", ("c",), "Copy the commands", "console", "copy", priority=10,
           group="Consoles", label="Copy commands", short="Copy",
           description="send the commands to the clipboard (OSC 52; under tmux only with"
           " set-clipboard on)"),
    Action("console.dismiss", ("escape", "q"), "Close the dialog", "console", "dismiss",
           priority=1, group="Consoles", label="Close", description="close the dialog"),
    # -- dialogs ---------------------------------------------------------------------------
    Action("confirm.yes", ("y",), "Yes", "confirm", "answer(True)", priority=10,
           group="Dialogs", description="yes"),
    Action("confirm.no", ("n", "escape", "q"), "No", "confirm", "answer(False)", priority=11,
           group="Dialogs", description="no"),
    Action("doctor.close", ("escape", "q"), "Close the doctor", "doctor", "dismiss",
           priority=1, group="Dialogs", label="Close", description="close the report"),
    Action("help.close", ("escape", "q", "question_mark"), "Close help", "help", "dismiss",
           priority=1, group="Dialogs", label="Close", description="close help"),
)  # fmt: skip

BY_ID: dict[str, Action] = {a.id: a for a in ACTIONS}

# App bindings checked before any screen's (Textual's priority bindings): they work on modal
# screens and while an Input has focus.
PRIORITY_IDS = frozenset({"palette", "quit.ctrl_c"})

# Keys kvmdeck never binds: Textual's own (quit, copy) and the tables' cursor keys, which the
# focused table takes before any screen binding would see them.
RESERVED: dict[str, str] = {
    "ctrl+q": "Textual's quit key",
    "up": "the tables' cursor",
    "down": "the tables' cursor",
    "left": "the tables' cursor",
    "right": "the tables' cursor",
    "pageup": "the tables' cursor",
    "pagedown": "the tables' cursor",
    "tab": "focus movement",
    "shift+tab": "focus movement",
}


def scope_actions(scope: str) -> list[Action]:
    """The actions bound on ``scope``'s screen (shared ones included), in footer order."""
    own = [a for a in ACTIONS if a.scope == scope]
    shared = [BY_ID[i] for i, scopes in SHARED.items() if scope in scopes]
    return sorted(shared + own, key=lambda a: a.priority)


def in_force(scope: str) -> list[Action]:
    """Every action a key can reach on ``scope``'s screen: its own, the shared ones, and the
    app's (the palette is a priority binding, so it reaches modal screens too)."""
    seen = {a.id for a in scope_actions(scope)}
    extra = [a for a in ACTIONS if a.scope == "global" and a.id not in seen and scope != "help"]
    if scope == "help":
        extra = [BY_ID["palette"]]
    return sorted([*scope_actions(scope), *extra], key=lambda a: a.priority)


# -- read-only gating ------------------------------------------------------------------------
def check(action_id: str, readonly: bool) -> str | None:
    """None when ``action_id`` may run now, else why not (for a notification).

    Raises KeyError for an id that is not in the registry (a typo in the caller).
    """
    action = BY_ID[action_id]
    if readonly and action.mutating:
        return f"read-only: restart without --readonly to {action.refusal or 'do that'}"
    return None


_ACTION_RE = re.compile(r"^(?:(?P<ns>[\w.]+)\.)?(?P<name>\w+)(?:\((?P<args>.*)\))?$", re.S)


def parse_action(action: str) -> tuple[str, tuple[object, ...]]:
    """``"guest('start')"`` -> ``("guest", ("start",))`` (what ``check_action`` receives)."""
    m = _ACTION_RE.match(action.strip())
    if m is None:
        raise ValueError(f"not an action string: {action!r}")
    args = m.group("args")
    params: tuple[object, ...] = ()
    if args and args.strip():
        params = tuple(ast.literal_eval(f"({args},)"))
    return m.group("name"), params


_MUTATING = {parse_action(a.action): a for a in ACTIONS if a.mutating}


def mutating_action(name: str, params: Iterable[object] = ()) -> Action | None:
    """The mutating action behind an action name and parameters (as ``check_action`` gets
    them), or None. Only mutating actions are looked up: their names are unique."""
    return _MUTATING.get((name, tuple(params)))


def keys_for(action: Action, keymap: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The keys of ``action`` after ``[keymap]`` (Textual key names)."""
    keymap = expand_keymap(keymap) if keymap else keymap  # detail.destroy follows guest.destroy
    if keymap and action.id in keymap:
        keys = [normalize_key(k) for k in keymap[action.id].split(",")]
        return tuple(dict.fromkeys(k for k in keys if k))
    return action.keys


# -- [keymap] ---------------------------------------------------------------------------------
def validate_keymap(mapping: Mapping[str, object]) -> list[str]:
    """What is wrong with a ``[keymap]`` table (binding id -> keys), one sentence per problem
    with its fix; empty when it is fine. Checks: unknown binding ids (with close matches), key
    names Textual cannot deliver, reserved keys, and a key bound twice where both are in force.
    """
    errors: list[str] = []
    good: dict[str, str] = {}
    for bid, value in mapping.items():
        if bid not in BY_ID:
            close = difflib.get_close_matches(bid, list(BY_ID), n=3, cutoff=0.8)
            if close:
                alts = " or ".join(repr(c) for c in close)
                errors.append(
                    f"'{bid}' is not a binding id; did you mean {alts}? "
                    "Fix the name or remove the line."
                )
            else:
                errors.append(
                    f"'{bid}' is not a binding id (kvmdeck's help screen, ?, lists them). "
                    "Fix the name or remove the line."
                )
            continue
        if not isinstance(value, str):
            errors.append(f'\'{bid}\' must be a string of keys, e.g. "ctrl+x" or "x,delete".')
            continue
        keys = [k.strip() for k in value.split(",")]
        if not any(keys):
            errors.append(f"'{bid}' = {value!r} names no key; name one (\"ctrl+s\") or remove it.")
            continue
        bad = False
        for key in keys:
            problem = key_problem(key)
            if problem is not None:
                errors.append(f"'{bid}' = {value!r}: {problem}.")
                bad = True
            elif normalize_key(key) in RESERVED:
                errors.append(
                    f"'{bid}' = {value!r}: {key} is {RESERVED[normalize_key(key)]}; "
                    "pick another key."
                )
                bad = True
        if not bad:
            good[bid] = value
    errors.extend(_clashes(good))
    return errors


def _clashes(keymap: Mapping[str, str]) -> list[str]:
    """A key bound to two actions in force on one screen, after the keymap (a detail.* id
    not in it is named by the guest.* id it follows: one clash, one message)."""
    given, keymap = keymap, expand_keymap(keymap)
    errors: list[str] = []
    reported: set[tuple[str, str, str]] = set()
    for scope in SCOPES:
        if scope == "global":
            continue
        owner: dict[str, Action] = {}
        for action in in_force(scope):
            for key in keys_for(action, keymap):
                other = owner.setdefault(key, action)
                if other is action:
                    continue
                first, second = sorted((leader(other.id, given), leader(action.id, given)))
                if first not in given and second not in given:
                    continue  # kvmdeck's own defaults (tests keep them clash-free)
                if (first, second, key) in reported:
                    continue
                reported.add((first, second, key))
                errors.append(
                    f"'{first}' and '{second}' are both bound to {key_label(key)} "
                    f"({SCOPES[scope]}); give one of them another key."
                )
    return errors
