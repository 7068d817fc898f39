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
