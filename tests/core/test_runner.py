"""The runner: blocking calls in daemon threads, results back on the loop. The loop only
queues a job; one spawner thread starts the threads (``Thread.start`` waits for the new thread
to run: under load that cost the loop about 12 ms a job)."""

from __future__ import annotations

import asyncio
import threading

from tui.core.runner import Runner


async def until(pred, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(400):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_jobs_run_in_named_daemon_threads_in_order_and_answer_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    errors: list[tuple[str, BaseException]] = []
    runner = Runner(loop, lambda name, exc: errors.append((name, exc)))
    gate = threading.Event()
    ran: list[tuple[str, bool, int]] = []
    done: list[tuple[int, bool]] = []
    failed: list[str] = []

    def job(i: int) -> int:
        t = threading.current_thread()
        ran.append((t.name, t.daemon, i))
        gate.wait(10)
        return i

    def boom() -> None:
        raise ValueError("no such guest")

    for i in range(5):
        runner.submit(f"job {i}", lambda i=i: job(i), done=lambda r: done.append((r, on_loop())))
    runner.submit("boom", boom, failed=lambda exc: failed.append(str(exc)) or True)

    def on_loop() -> bool:
        return threading.current_thread() is threading.main_thread()

    await until(lambda: len(ran) == 5, "five jobs running at once (each its own thread)")
    assert [r[2] for r in ran] == [0, 1, 2, 3, 4]  # started in the order submitted
    assert all(name.startswith("kvmdeck:job ") and daemon for name, daemon, _ in ran)
    gate.set()
    await until(lambda: len(done) == 5 and failed, "results")
    assert sorted(done) == [(i, True) for i in range(5)]  # delivered on the loop's thread
    assert failed == ["no such guest"] and not errors
    runner.close()


async def test_jobs_submitted_before_and_after_close_still_run_unanswered() -> None:
    """Quit closes each host (a job) and then the runner: those closes still run."""
    loop = asyncio.get_running_loop()
    runner = Runner(loop, lambda name, exc: None)
    ran: list[str] = []
    answered: list[str] = []
    runner.submit("close host a", lambda: ran.append("a"), done=lambda _r: answered.append("a"))
    runner.close()
    runner.submit("close host b", lambda: ran.append("b"), done=lambda _r: answered.append("b"))
    await until(lambda: sorted(ran) == ["a", "b"], "both closes")
    await asyncio.sleep(0.05)
    assert answered == []  # closed: nobody waits for an answer any more


async def test_a_thread_whose_job_ended_takes_the_next_job() -> None:
    """50 hosts polled each second: the threads are reused, not made anew for every poll."""
    loop = asyncio.get_running_loop()
    runner = Runner(loop, lambda name, exc: None)
    idents: list[int] = []
    for i in range(20):
        runner.submit(f"poll {i}", threading.get_ident, done=idents.append)
        await until(lambda i=i: len(idents) == i + 1, f"job {i}")
    assert len(set(idents)) == 1 and runner.threads.started == 1  # one after the other
    runner.close()


async def test_a_stuck_job_keeps_only_its_own_thread() -> None:
    """A call that never returns (a hung host) holds its thread; the next jobs get others."""
    loop = asyncio.get_running_loop()
    runner = Runner(loop, lambda name, exc: None)
    stuck = threading.Event()
    names: list[str] = []
    runner.submit("poll hung", lambda: stuck.wait(10))
    await until(lambda: "poll hung" in runner.in_flight.values(), "the stuck call")
    for i in range(3):
        runner.submit(f"poll {i}", lambda: threading.current_thread().name, done=names.append)
        await until(lambda i=i: len(names) == i + 1, f"job {i} beside the stuck one")
    assert names == ["kvmdeck:poll 0", "kvmdeck:poll 1", "kvmdeck:poll 2"]
    assert runner.threads.started == 2  # the stuck one's and one reused for the three others
    assert list(runner.in_flight.values()) == ["poll hung"]
    stuck.set()
    runner.close()
