"""The registry's provisioning actions (issue 21): create, clone, delete, edit, XML edit on the
main screen, and the keys of their dialogs. Kept apart from :mod:`tui.registry` (which splices
them in) so that features added at the same time do not edit the same lines.

Plain data: ``make`` is :class:`tui.registry.Action` (passed in: no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PROVISION_SCOPES: dict[str, str] = {
    "create": "create guest form",
    "provision_dialog": "clone, delete and edit dialogs",
}


def provision_actions(make: Callable[..., Any]) -> tuple[Any, ...]:
    return (
        make("guest.create", ("n",), "Create a new guest", "main", "app.provision('create')",
             mutating=True, show=False, priority=24, group="Guests",
             description="create a new guest: OS, vCPUs, memory, disk, network, firmware;"
             " from a cloud image (cloud-init), an ISO, an existing disk or an empty disk",
             refusal="create guests"),
        make("guest.clone", ("C",), "Clone the guest (shut off; full or linked)", "main",
             "app.provision('clone')", mutating=True, show=False, priority=25, group="Guests",
             description="clone the selected shut-off guest: new name, UUID and MACs; full copy"
             " or linked qcow2 overlay", refusal="clone guests"),
        make("guest.delete", ("D",), "Delete the guest and its storage (type its name)",
             "main", "app.provision('delete')", mutating=True, confirm=True, show=False,
             priority=26, group="Guests",
             description="delete the selected guest with its volumes, NVRAM and snapshots;"
             " lists them and asks for the guest's name", refusal="delete guests"),
        make("guest.edit", ("e",), "Edit vCPUs, memory, autostart, name", "main",
             "app.provision('edit')", mutating=True, show=False, priority=27, group="Guests",
             description="edit the selected guest: vCPUs and memory (saved; live up to the"
             " maximum), autostart, rename (shut off)", refusal="change guests"),
        make("guest.edit_xml", ("E",), "Edit the guest's XML in $EDITOR", "main",
             "app.provision('xml')", mutating=True, show=False, priority=28, group="Guests",
             description="edit the guest's saved XML in $EDITOR as virsh edit does: the diff"
             " first; a refused define opens the editor again with the error",
             refusal="change guests"),
        # -- the create form and the other dialogs -----------------------------------------
        make("create.cancel", ("escape",), "Cancel (or stop the copy)", "create", "cancel",
             priority=1, group="Dialogs", label="Cancel",
             description="close the form; while it works, cancel (what was made is removed)"),
        make("create.submit", ("ctrl+s",), "Create the guest", "create", "submit",
             priority=10, group="Dialogs", label="Create",
             description="create the guest (Enter in a text field does too)"),
        make("create.default_pool", ("ctrl+b",), "Create the default storage pool", "create",
             "default_pool", mutating=True, priority=11, group="Dialogs", label="Default pool",
             description="create the default pool at /var/lib/libvirt/images, as virt-manager"
             " does", refusal="create storage pools"),
        make("provision_dialog.cancel", ("escape",), "Cancel", "provision_dialog", "cancel",
             priority=1, group="Dialogs", label="Cancel",
             description="close the dialog; while a clone copies, cancel it (Enter in a"
             " field goes ahead)"),
    )  # fmt: skip
