"""The storage and networks actions (issue 21) as registry data: the main screen's S and L,
the storage and networks screens, and their dialogs. :mod:`tui.registry` builds them into
``ACTIONS`` (this module imports nothing of it: the registry passes its ``Action`` class in,
as tui/registry_fleet.py does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

STORAGE_SCOPES = {
    "storage": "storage",
    "networks": "networks",
    "storage_form": "storage and network dialogs",
    "storage_choice": "storage choice lists",
}


def storage_actions(Action: Callable[..., Any]) -> tuple[Any, ...]:
    """The main screen's S and L, and the storage and networks screens' actions."""
    return (
    Action("storage", ("S",), "Storage: pools, volumes, uploads, ISO media", "main",
           "app.storage", show=False, priority=41, group="Storage",
           description="storage pools and volumes of the selected guest's host: create,"
           " resize, delete, upload; pools start/stop/autostart; CD-ROM insert/eject"),
    Action("networks", ("L",), "Networks and DHCP leases", "main", "app.networks",
           show=False, priority=42, group="Networks",
           description="libvirt networks of the selected guest's host and their DHCP leases:"
           " start, stop, autostart, new isolated network"),
    # -- storage: pools and volumes, uploads, CD-ROM media (issue 21) ----------------------
    Action("storage.back", ("escape", "q"), "Back", "storage", "close", priority=1,
           group="Storage", label="Back", description="back to the guest list"),
    Action("storage.pool_start", ("s",), "Start the selected pool", "storage", "pool_start",
           mutating=True, priority=10, group="Storage", label="Start",
           description="start the selected storage pool", refusal="start storage pools"),
    Action("storage.pool_stop", ("x",), "Stop the selected pool (asks first)", "storage",
           "pool_stop", mutating=True, confirm=True, priority=11, group="Storage",
           label="Stop", description="stop the selected storage pool (refused while running"
           " guests use it), asks first", refusal="stop storage pools"),
    Action("storage.pool_autostart", ("a",), "Autostart the selected pool on / off",
           "storage", "pool_autostart", mutating=True, priority=12, group="Storage",
           label="Autostart", description="start the selected pool with the host, or not",
           refusal="change pool autostart"),
    Action("storage.pool_new", ("P",), "New directory pool", "storage", "pool_new",
           mutating=True, priority=13, group="Storage", label="New pool",
           description="a new directory pool: name and directory (made if missing), started"
           " and autostarted", refusal="create storage pools"),
    Action("storage.volume_new", ("n",), "New volume in the selected pool", "storage",
           "volume_new", mutating=True, priority=14, group="Storage", label="New vol",
           description="a new volume in the selected pool: name, size, qcow2 or raw",
           refusal="create volumes"),
    Action("storage.volume_resize", ("r",), "Grow the selected volume", "storage",
           "volume_resize", mutating=True, priority=15, group="Storage", label="Resize",
           description="grow the selected volume (refused while a running guest uses it)",
           refusal="resize volumes"),
    Action("storage.volume_delete", ("d", "delete"), "Delete the selected volume (asks first)",
           "storage", "volume_delete", mutating=True, confirm=True, priority=16,
           group="Storage", label="Delete", description="delete the selected volume, asks"
           " first; refused while a guest uses it (and says which)", refusal="delete volumes"),
    Action("storage.upload", ("u",), "Upload a file into the selected pool", "storage",
           "volume_upload", mutating=True, priority=17, group="Storage", label="Upload",
           description="upload an ISO or image file from this machine into a new volume of"
           " the selected pool, with progress; c cancels", refusal="upload volumes"),
    Action("storage.cancel", ("c",), "Cancel the upload", "storage", "cancel_upload",
           priority=18, group="Storage", label="Cancel", show=False,
           description="cancel the upload under way (the half-made volume is deleted)"),
    Action("storage.insert", ("i",), "Insert the selected volume into a CD-ROM", "storage",
           "media_insert", mutating=True, priority=19, group="Storage", label="Insert",
           description="insert the selected volume (an ISO) into a guest's CD-ROM drive",
           refusal="change CD-ROM media"),
    Action("storage.eject", ("e",), "Eject a CD-ROM's medium", "storage", "media_eject",
           mutating=True, priority=20, group="Storage", label="Eject",
           description="eject the medium of a guest's CD-ROM drive (choose which)",
           refusal="change CD-ROM media"),
    Action("storage.refresh", ("g",), "Read the pools and volumes again", "storage",
           "reload", priority=21, group="Storage", label="Refresh", show=False,
           description="read the pools and volumes again"),
    # -- networks and their DHCP leases (issue 21) ------------------------------------------
    Action("networks.back", ("escape", "q"), "Back", "networks", "close", priority=1,
           group="Networks", label="Back", description="back to the guest list"),
    Action("networks.start", ("s",), "Start the selected network", "networks",
           "network_start", mutating=True, priority=10, group="Networks", label="Start",
           description="start the selected network", refusal="start networks"),
    Action("networks.stop", ("x",), "Stop the selected network (asks first)", "networks",
           "network_stop", mutating=True, confirm=True, priority=11, group="Networks",
           label="Stop", description="stop the selected network, asks first (its guests lose"
           " it until it starts again)", refusal="stop networks"),
    Action("networks.autostart", ("a",), "Autostart the selected network on / off",
           "networks", "network_autostart", mutating=True, priority=12, group="Networks",
           label="Autostart", description="start the selected network with the host, or not",
           refusal="change network autostart"),
    Action("networks.new", ("n",), "New isolated network", "networks", "network_new",
           mutating=True, priority=13, group="Networks", label="New",
           description="a new isolated network (no forwarding: guests reach the host and each"
           " other only): name, address/prefix, DHCP", refusal="create networks"),
    Action("networks.refresh", ("g",), "Read the networks and leases again", "networks",
           "reload", priority=14, group="Networks", label="Refresh", show=False,
           description="read the networks and leases again"),
    # -- the storage and network dialogs ------------------------------------------------------
    Action("storage_form.cancel", ("escape",), "Cancel", "storage_form", "cancel",
           priority=1, group="Dialogs", label="Cancel",
           description="cancel (Enter in a field goes ahead)"),
    Action("storage_form.toggle", ("ctrl+t",), "Switch the option", "storage_form", "switch_option",
           priority=10, group="Dialogs", label="Switch",
           description="switch the dialog's option (qcow2 / raw, DHCP on / off)"),
    Action("storage_choice.cancel", ("escape", "q"), "Cancel", "storage_choice", "cancel",
           priority=1, group="Dialogs", label="Cancel",
           description="cancel (Enter picks the line)"),
    )  # fmt: skip
