from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable

import pytest

from realtime2.engine.interfaces import Priority, Urgency
from realtime2.engine.scheduler import JOB_OBSERVER, CpuGate, ModelWorker, SpareCore


def blocker(worker: ModelWorker) -> tuple[threading.Event, concurrent.futures.Future[None]]:
    """Occupy the worker until the returned event is set, so later jobs queue up."""
    gate = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(5)

    future = worker.submit(hold, Priority.FIRST_AUDIO)
    assert started.wait(5)
    return gate, future


def test_jobs_run_by_priority_then_arrival() -> None:
    worker = ModelWorker("t")
    order: list[str] = []
    gate, _ = blocker(worker)
    futures = [
        worker.submit(lambda n=name: order.append(n), priority)
        for name, priority in [
            ("bg1", Priority.BACKGROUND),
            ("int1", Priority.INTERACTIVE),
            ("first1", Priority.FIRST_AUDIO),
            ("bg2", Priority.BACKGROUND),
            ("int2", Priority.INTERACTIVE),
            ("first2", Priority.FIRST_AUDIO),
        ]
    ]
    gate.set()
    concurrent.futures.wait(futures, timeout=5)
    assert order == ["first1", "first2", "int1", "int2", "bg1", "bg2"]
    worker.close()


def test_a_queued_job_is_as_urgent_as_its_urgency_when_the_queue_is_ordered() -> None:
    # A reply's next slice was queued as interactive work; while it waited, the reply's
    # audio ran short (`engine.pacing`): it now goes before first-audio work queued after
    # it, and before interactive work queued before it.
    worker = ModelWorker("t")
    order: list[str] = []
    gate, _ = blocker(worker)
    reply = Urgency(Priority.INTERACTIVE)
    futures = [
        worker.submit(lambda: order.append("other reply"), Priority.INTERACTIVE),
        worker.submit(lambda: order.append("running dry"), reply),
        worker.submit(lambda: order.append("first audio"), Priority.FIRST_AUDIO),
    ]
    assert worker.most_urgent_waiting() == Priority.FIRST_AUDIO
    reply.priority = Priority.FIRST_AUDIO
    gate.set()
    concurrent.futures.wait(futures, timeout=5)
    assert order == ["running dry", "first audio", "other reply"]
    worker.close()


def test_a_live_urgency_is_read_when_the_queue_is_ordered() -> None:
    worker = ModelWorker("t")
    order: list[str] = []
    gate, _ = blocker(worker)
    dry = threading.Event()
    reply = Urgency(
        Priority.INTERACTIVE,
        live=lambda: Priority.FIRST_AUDIO if dry.is_set() else Priority.INTERACTIVE,
    )
    futures = [
        worker.submit(lambda: order.append("other reply"), Priority.INTERACTIVE),
        worker.submit(lambda: order.append("running dry"), reply),
    ]
    dry.set()  # no one told the worker: it reads the urgency when it picks a job
    gate.set()
    concurrent.futures.wait(futures, timeout=5)
    assert order == ["running dry", "other reply"]
    worker.close()


def test_cancelled_queued_job_never_runs() -> None:
    worker = ModelWorker("t")
    ran: list[int] = []
    gate, _ = blocker(worker)
    doomed = worker.submit(lambda: ran.append(1))
    kept = worker.submit(lambda: ran.append(2))
    assert worker.queued == 2
    assert doomed.cancel()
    assert worker.queued == 1
    gate.set()
    kept.result(5)
    assert ran == [2]
    worker.close()


def test_exceptions_reach_the_caller_and_worker_survives() -> None:
    worker = ModelWorker("t")

    def boom() -> None:
        raise RuntimeError("model exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        worker.submit(boom).result(5)
    assert worker.submit(lambda: 42).result(5) == 42
    worker.close()


def test_all_jobs_run_on_one_thread() -> None:
    worker = ModelWorker("t")
    idents = {worker.submit(threading.get_ident).result(5) for _ in range(20)}
    assert len(idents) == 1 and threading.get_ident() not in idents
    worker.close()


async def test_async_run_and_cancel_while_queued() -> None:
    worker = ModelWorker("t")
    ran: list[str] = []
    gate, _ = blocker(worker)
    task = asyncio.create_task(worker.run(lambda: ran.append("cancelled")))
    other = asyncio.create_task(worker.run(lambda: ran.append("kept") or "ok"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    assert await other == "ok"
    assert ran == ["kept"]
    worker.close()


async def test_a_running_job_whose_caller_stopped_waiting_ends_at_its_next_stage() -> None:
    """A discarded draft's whisper run: the encoder cannot be stopped, the decoder need
    not start. A job nobody gave up on goes through its stages."""
    worker = ModelWorker("t")
    first_stage, go_on = threading.Event(), threading.Event()
    stages: list[str] = []

    def staged(name: str) -> str:
        stages.append(f"{name} encode")
        first_stage.set()
        go_on.wait(5)
        worker.check_abandoned()
        stages.append(f"{name} decode")
        return name

    task = asyncio.create_task(worker.run(lambda: staged("discarded")))
    assert await asyncio.to_thread(first_stage.wait, 5)
    task.cancel()  # while its first stage runs
    with pytest.raises(asyncio.CancelledError):
        await task
    go_on.set()
    first_stage.clear()
    assert await worker.run(lambda: staged("kept")) == "kept"
    assert stages == ["discarded encode", "kept encode", "kept decode"]
    worker.check_abandoned()  # outside a job it passes
    worker.close()


async def test_high_priority_interleaves_between_steps_of_a_long_stream() -> None:
    """A long background stream of small steps lets first-audio work through quickly."""
    worker = ModelWorker("t")
    timeline: list[str] = []

    async def long_stream() -> None:
        for i in range(30):
            await worker.run(
                lambda i=i: (time.sleep(0.005), timeline.append(f"bg{i}")), Priority.BACKGROUND
            )

    stream = asyncio.create_task(long_stream())
    await asyncio.sleep(0.03)
    await worker.run(lambda: timeline.append("urgent"), Priority.FIRST_AUDIO)
    await stream
    position = timeline.index("urgent")
    assert 0 < position < 20, timeline
    worker.close()


def test_closed_worker_rejects_and_cancels() -> None:
    worker = ModelWorker("t")
    gate, running = blocker(worker)
    queued = worker.submit(lambda: None)
    threading.Timer(0.05, gate.set).start()
    worker.close()
    assert queued.cancelled()
    assert running.done()
    with pytest.raises(RuntimeError):
        worker.submit(lambda: None)


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_a_shared_gate_gives_a_free_core_to_the_most_urgent_job_of_any_model() -> None:
    gate = CpuGate(1)
    stt, llm, tts = (ModelWorker(name, gate=gate) for name in ("stt", "llm", "tts"))
    order: list[str] = []
    release, _ = blocker(llm)  # the only core is busy
    background = tts.submit(lambda: order.append("tts background"), Priority.BACKGROUND)
    _eventually(lambda: gate.most_urgent_waiting() == Priority.BACKGROUND)
    urgent = stt.submit(lambda: order.append("stt first audio"), Priority.FIRST_AUDIO)
    # The running job sees the urgent one waiting elsewhere, so an LLM slice would yield.
    _eventually(lambda: llm.most_urgent_waiting() == Priority.FIRST_AUDIO)
    release.set()
    concurrent.futures.wait([background, urgent], timeout=5)
    assert order == ["stt first audio", "tts background"]
    for worker in (stt, llm, tts):
        worker.close()


def test_a_worker_waiting_for_a_core_is_raised_by_a_more_urgent_job() -> None:
    gate = CpuGate(1)
    stt, llm, tts = (ModelWorker(name, gate=gate) for name in ("stt", "llm", "tts"))
    order: list[str] = []
    release, _ = blocker(llm)
    jobs = [tts.submit(lambda: order.append("tts background"), Priority.BACKGROUND)]
    _eventually(lambda: gate.most_urgent_waiting() == Priority.BACKGROUND)
    jobs.append(stt.submit(lambda: order.append("stt interactive"), Priority.INTERACTIVE))
    _eventually(lambda: gate.most_urgent_waiting() == Priority.INTERACTIVE)
    jobs.append(tts.submit(lambda: order.append("tts first audio"), Priority.FIRST_AUDIO))
    _eventually(lambda: gate.most_urgent_waiting() == Priority.FIRST_AUDIO)
    release.set()
    concurrent.futures.wait(jobs, timeout=5)
    assert order == ["tts first audio", "stt interactive", "tts background"]
    for worker in (stt, llm, tts):
        worker.close()


def test_a_result_arrives_only_once_its_core_is_returned() -> None:
    # The caller's next step (its next job, a look at the gate) must not find the core
    # still held by the job it just heard back from. A slow job observer (it runs after
    # the job, on the worker's thread) widens what would otherwise be a rare race.
    gate = CpuGate(1)
    worker = ModelWorker("stt", gate=gate)
    token = JOB_OBSERVER.set(lambda *_: time.sleep(0.05))
    try:
        worker.submit(lambda: None).result(timeout=5)
        assert gate.busy_cores == 0
        failing = worker.submit(lambda: 1 / 0)
        assert isinstance(failing.exception(timeout=5), ZeroDivisionError)
        assert gate.busy_cores == 0
    finally:
        JOB_OBSERVER.reset(token)
        worker.close()


def test_a_worker_waiting_at_the_gate_is_ranked_by_its_live_urgency() -> None:
    # A reply's LLM slice queued as interactive, waiting for the only core behind another
    # model's interactive job that came first: its audio runs out meanwhile, and the core
    # goes to it, though nobody told the gate.
    gate = CpuGate(1)
    llm, stt, busy = (ModelWorker(name, gate=gate) for name in ("llm", "stt", "busy"))
    order: list[str] = []
    release, _ = blocker(busy)
    jobs = [stt.submit(lambda: order.append("other reply"), Priority.INTERACTIVE)]
    _eventually(lambda: gate.most_urgent_waiting() == Priority.INTERACTIVE)
    dry = threading.Event()
    reply = Urgency(
        Priority.INTERACTIVE,
        live=lambda: Priority.FIRST_AUDIO if dry.is_set() else Priority.INTERACTIVE,
    )
    jobs.append(llm.submit(lambda: order.append("running dry"), reply))
    time.sleep(0.05)  # the llm worker waits at the gate, behind the stt one
    dry.set()
    assert gate.most_urgent_waiting() == Priority.FIRST_AUDIO
    release.set()
    concurrent.futures.wait(jobs, timeout=5)
    assert order == ["running dry", "other reply"]
    for worker in (llm, stt, busy):
        worker.close()


def test_two_slots_run_two_jobs_at_once() -> None:
    gate = CpuGate(2)
    a, b = ModelWorker("a", gate=gate), ModelWorker("b", gate=gate)
    both = threading.Barrier(2, timeout=5)
    futures = [a.submit(both.wait), b.submit(both.wait)]  # deadlocks unless both run
    concurrent.futures.wait(futures, timeout=5)
    assert all(f.exception() is None for f in futures)
    a.close()
    b.close()


def test_a_worker_with_a_spare_core_waits_until_it_would_leave_one_free() -> None:
    gate = CpuGate(2)
    llm, live, tts = (
        ModelWorker("llm", gate=gate),
        ModelWorker("stt-live", gate=gate, spare_cores=1),
        ModelWorker("tts", gate=gate),
    )
    release, _ = blocker(llm)  # one core busy, one free
    hypothesis = live.submit(lambda: None, Priority.BACKGROUND)
    time.sleep(0.05)
    assert not hypothesis.done()  # starting it would leave no core for urgent work
    # It holds nobody up: the free core still goes to other work, even less urgent.
    other = tts.submit(lambda: None, Priority.BACKGROUND)
    assert other.result(timeout=5) is None
    assert not hypothesis.done()
    release.set()
    assert hypothesis.result(timeout=5) is None  # all quiet: it runs
    for worker in (llm, live, tts):
        worker.close()


def test_spare_cores_never_starve_a_one_core_machine() -> None:
    gate = CpuGate(1)
    live = ModelWorker("stt-live", gate=gate, spare_cores=1)
    assert live.submit(lambda: 7, Priority.BACKGROUND).result(timeout=5) == 7
    live.close()


def test_an_idle_core_is_lent_only_while_no_job_waits_for_it() -> None:
    gate = CpuGate(2)
    llm, tts = ModelWorker("llm", gate=gate), ModelWorker("tts", gate=gate)
    release, _ = blocker(llm)  # one core busy, one idle
    assert gate.lend()  # the idle one
    assert not gate.lend()  # none left
    queued = tts.submit(lambda: "spoken", Priority.BACKGROUND)
    _eventually(lambda: gate.contended)
    assert not queued.done()  # the lent core is counted as busy
    gate.release()  # the borrower gives it back
    assert queued.result(timeout=5) == "spoken"
    release.set()
    for worker in (llm, tts):
        worker.close()


def test_a_spare_core_is_taken_when_idle_and_given_back_when_another_job_waits() -> None:
    gate = CpuGate(2)
    llm, tts = ModelWorker("llm", gate=gate), ModelWorker("tts", gate=gate)
    threads: list[bool] = []
    stepping = threading.Event()
    other_waits = threading.Event()

    def generate() -> list[bool]:
        spare = SpareCore(gate, threads.append)
        spare.step()  # quiet machine: borrows the second core
        borrowed = spare.held
        stepping.set()
        other_waits.wait(5)
        _eventually(lambda: gate.contended)
        spare.step()  # somebody waits now: give it back before the next decode
        kept = spare.held
        spare.release()
        return [borrowed, kept]

    job = llm.submit(generate, Priority.FIRST_AUDIO)
    assert stepping.wait(5)
    queued = tts.submit(lambda: "spoken", Priority.BACKGROUND)
    other_waits.set()
    assert job.result(timeout=5) == [True, False]
    assert queued.result(timeout=5) == "spoken"
    assert threads == [True, False]  # the thread count followed the core
    for worker in (llm, tts):
        worker.close()


def test_work_waiting_for_a_quiet_machine_does_not_take_a_spare_core_back() -> None:
    gate = CpuGate(2)
    llm = ModelWorker("llm", gate=gate)
    live = ModelWorker("stt-live", gate=gate, spare_cores=1)
    release, _ = blocker(llm)
    assert gate.lend()
    hypothesis = live.submit(lambda: None, Priority.BACKGROUND)
    time.sleep(0.05)
    # Live hypotheses would not start on the returned core (it must stay free), so the
    # borrower may keep it.
    assert not gate.contended
    gate.release()
    release.set()
    assert hypothesis.result(timeout=5) is None
    for worker in (llm, live):
        worker.close()


def test_a_one_core_machine_lends_nothing() -> None:
    changes: list[bool] = []
    spare = SpareCore(CpuGate(1), changes.append)
    spare.step()
    assert not spare.held and changes == []


def test_a_job_that_jumps_the_gate_starts_at_once_and_takes_a_borrowed_core_back() -> None:
    gate = CpuGate(2)
    llm = ModelWorker("llm", gate=gate)
    turn = ModelWorker("turn", gate=gate, jumps_gate=True)
    release, _ = blocker(llm)
    threads: list[bool] = []
    spare = SpareCore(gate, threads.append)
    spare.step()  # the LLM borrowed the idle core: both are taken
    assert spare.held and gate.busy_cores == 2
    checking = threading.Event()
    finish = threading.Event()

    def check() -> float:
        checking.set()
        finish.wait(5)
        return 0.9

    score = turn.submit(check, Priority.FIRST_AUDIO)
    assert checking.wait(5)  # no core was free, and it did not wait for one
    assert gate.busy_cores == 3 and gate.contended
    spare.step()  # the borrower's next decode: it hands the core back
    assert not spare.held and threads == [True, False]
    finish.set()
    assert score.result(timeout=5) == 0.9
    _eventually(lambda: gate.busy_cores == 1)
    release.set()
    for worker in (llm, turn):
        worker.close()


def _slice_until_more_urgent(worker: ModelWorker, urgency: Urgency, steps: list[int]) -> None:
    """An LLM slice: a token per step until more urgent work waits (as `LlamaLLM._slice`)."""
    worker.yielding_to = urgency
    for step in range(500):
        steps.append(step)
        waiting = worker.most_urgent_waiting()
        if waiting is not None and waiting < urgency.priority:
            return
        time.sleep(0.005)


def test_a_claim_takes_the_core_of_a_less_urgent_slice_at_its_next_step() -> None:
    gate = CpuGate(2)
    llm, tts = ModelWorker("llm", gate=gate), ModelWorker("tts-first", gate=gate)
    steps: list[int] = []
    reply = Urgency(Priority.FIRST_AUDIO)
    generating = llm.submit(
        lambda: _slice_until_more_urgent(llm, reply, steps), Priority.FIRST_AUDIO
    )
    _eventually(lambda: len(steps) > 2)
    reply.priority = Priority.INTERACTIVE  # the first sentence is out: the rest can wait
    voiced = tts.submit(lambda: gate.claim(Priority.FIRST_AUDIO, timeout=2.0))
    assert voiced.result(timeout=5) is True  # the slice ended and handed its core over
    assert generating.done()
    _eventually(lambda: gate.busy_cores == 1)  # the claimed core, held
    assert llm.yielding_to is None  # cleared once its core was given back
    gate.release()
    for worker in (llm, tts):
        worker.close()


def test_a_claim_gets_an_idle_core_at_once_and_no_core_from_work_that_cannot_yield() -> None:
    gate = CpuGate(2)
    stt, tts = ModelWorker("stt", gate=gate), ModelWorker("tts-first", gate=gate)
    assert tts.submit(lambda: gate.claim(Priority.FIRST_AUDIO, timeout=0.0)).result(5)
    gate.release()
    release, _ = blocker(stt)  # a transcription: it cannot stop midway
    started = time.monotonic()
    assert not tts.submit(lambda: gate.claim(Priority.FIRST_AUDIO, timeout=2.0)).result(5)
    assert time.monotonic() - started < 1.0  # refused at once, not after the timeout
    release.set()
    for worker in (stt, tts):
        worker.close()


def test_a_claim_does_not_take_the_core_of_equally_urgent_work() -> None:
    gate = CpuGate(2)
    llm, tts = ModelWorker("llm", gate=gate), ModelWorker("tts-first", gate=gate)
    steps: list[int] = []
    other_reply = Urgency(Priority.FIRST_AUDIO)  # another session, before its first sentence
    generating = llm.submit(
        lambda: _slice_until_more_urgent(llm, other_reply, steps), Priority.FIRST_AUDIO
    )
    _eventually(lambda: len(steps) > 2)
    assert not tts.submit(lambda: gate.claim(Priority.FIRST_AUDIO, timeout=2.0)).result(5)
    assert not generating.done()
    other_reply.priority = Priority.BACKGROUND  # let it end
    tts.submit(lambda: gate.claim(Priority.FIRST_AUDIO, timeout=2.0)).result(5)
    gate.release()
    for worker in (llm, tts):
        worker.close()


def test_a_claim_leaves_a_freed_core_to_work_already_waiting_for_one() -> None:
    gate = CpuGate(2)
    llm, tts, stt = (ModelWorker(name, gate=gate) for name in ("llm", "tts-first", "stt"))
    steps: list[int] = []
    reply = Urgency(Priority.INTERACTIVE)
    generating = llm.submit(lambda: _slice_until_more_urgent(llm, reply, steps))
    _eventually(lambda: len(steps) > 2)
    release, _ = blocker(tts)  # the second core: both are taken
    transcript = stt.submit(lambda: "words", Priority.INTERACTIVE)  # waits: none yields to it
    _eventually(lambda: gate.most_urgent_waiting() == Priority.INTERACTIVE)
    started = time.monotonic()
    assert not gate.claim(Priority.FIRST_AUDIO, timeout=2.0)
    assert time.monotonic() - started < 1.0  # at once: a core freed next is the waiter's
    reply.priority = Priority.BACKGROUND  # the slice now yields to the transcript
    assert transcript.result(timeout=5) == "words"
    assert generating.result(timeout=5) is None
    release.set()
    for worker in (llm, tts, stt):
        worker.close()
