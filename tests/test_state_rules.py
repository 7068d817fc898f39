"""Pure rules behind the state-aware keys: the fleet's pending state and the refusal texts."""

from __future__ import annotations

import pytest

from tui.core.guest_rules import guest_refusal, plural
from tui.model.events import LifecycleEvent
from tui.model.fleet import PENDING_SHUTDOWN, Fleet, Guest
from tui.model.guest import GuestSample, GuestState
from tui.model.host import PollResult
from tui.model.ids import GuestKey, HostId

HOST = HostId("test:///default")
UUID = "00000000-0000-0000-0000-000000000001"


def sample(state: GuestState, name: str = "web") -> GuestSample:
    return GuestSample(name, UUID, state.label, int(state), 0)


def fleet_with(state: GuestState) -> tuple[Fleet, GuestKey]:
    fleet = Fleet()
    fleet.add_host(HOST, "h")
    fleet.apply_poll(HOST, 1, PollResult(HOST.uri, [sample(state)], 0.0, 0))
    return fleet, GuestKey(HOST, UUID)


def test_pending_shutdown_until_the_guest_stops() -> None:
    fleet, key = fleet_with(GuestState.RUNNING)
    change = fleet.set_pending(key, PENDING_SHUTDOWN, 60.0, now=100.0)
    assert key in change.changed and HOST in change.hosts
    guest = fleet.guest(key)
    assert guest is not None and guest.pending == PENDING_SHUTDOWN
    # Still running: the mark stays; the deadline makes it overdue.
    fleet.apply_poll(HOST, 2, PollResult(HOST.uri, [sample(GuestState.RUNNING)], 0.0, 0))
    assert guest.pending == PENDING_SHUTDOWN
    assert fleet.overdue(now=159.0) == [] and fleet.overdue(now=160.0) == [guest]
    # It stops: the poll clears the mark (and says the guest changed).
    change = fleet.apply_poll(HOST, 3, PollResult(HOST.uri, [sample(GuestState.SHUTOFF)], 0.0, 0))
    assert guest.pending == "" and guest.pending_until is None and key in change.changed
    assert fleet.overdue(now=1e9) == []


def test_pending_cleared_by_the_stopped_event_and_by_hand() -> None:
    fleet, key = fleet_with(GuestState.RUNNING)
    fleet.set_pending(key, PENDING_SHUTDOWN, 60.0)
    fleet.apply_lifecycle(HOST, LifecycleEvent(HOST.uri, "web", UUID, 5, 0, 0.0))
    guest = fleet.guest(key)
    assert guest is not None and guest.pending == ""
    fleet.apply_lifecycle(HOST, LifecycleEvent(HOST.uri, "web", UUID, 2, 0, 0.0))
    fleet.set_pending(key, PENDING_SHUTDOWN, 60.0)
    assert key in fleet.clear_pending(key).changed and guest.pending == ""
    assert not fleet.clear_pending(key)  # nothing to clear: no change
    assert not fleet.set_pending(GuestKey(HOST, "gone"), PENDING_SHUTDOWN, 1.0)


def guest(state: GuestState, pending: str = "", name: str = "web") -> Guest:
    return Guest(GuestKey(HOST, UUID), sample(state, name), pending=pending)


R, P, OFF, CRASH = GuestState.RUNNING, GuestState.PAUSED, GuestState.SHUTOFF, GuestState.CRASHED


@pytest.mark.parametrize(
    ("state", "pending", "verb", "said"),
    [
        (R, "", "start", "web is already running"),
        (P, "", "start", "web is paused: p resumes it"),
        (R, PENDING_SHUTDOWN, "start", "web is shutting down"),
        (OFF, "", "start", None),
        (OFF, "", "shutdown", "web is shut off"),
        (OFF, "", "reboot", "web is shut off: s starts it"),
        (OFF, "", "pause", "web is shut off"),
        (OFF, "", "destroy", "web is already shut off"),
        (CRASH, "", "destroy", "web is crashed"),
        (OFF, "", "console", "web is shut off: s starts it"),
        (R, "", "shutdown", None),
        (R, PENDING_SHUTDOWN, "shutdown", "web is already shutting down: X forces it off"),
        (P, "", "shutdown", "web is paused: p resumes it, X forces it off"),
        (P, "", "reboot", "web is paused: p resumes it"),
        (P, "", "pause", None),  # p resumes
        (R, PENDING_SHUTDOWN, "destroy", None),  # force off is the way out
        (R, "", "console", None),
    ],
)
def test_refusal_texts(state: GuestState, pending: str, verb: str, said: str | None) -> None:
    assert guest_refusal(guest(state, pending), verb) == said


def test_console_refused_while_a_viewer_is_open_names_the_pid_and_stays_plain() -> None:
    said = guest_refusal(guest(R, name="db[old]"), "console", viewer_pid=4242)
    assert said == "the console of db[old] is already open (remote-viewer, pid 4242); w lists it"


def test_plural() -> None:
    assert plural(1, "guest") == "1 guest" and plural(2, "guest") == "2 guests"
    assert plural(0, "guest") == "0 guests"
    assert plural(1, "more interface") == "1 more interface"
