"""An ordered pool: N runtime contexts, frames in, results out in input order, bounded queue.

On an RK3588 the natural N is 3, one RKNNLite context per NPU core (core_mask 0, 1, 2): a single
context keeps one core busy and leaves two idle. The pool works with any backend of
:mod:`.runtimes` (each worker thread owns one context; the NPU driver, onnxruntime and the
simulator's child processes all release the GIL while they compute). Standard library only.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, Iterator

_STOP = object()


class OrderedPool:
    """``with OrderedPool([rt0, rt1], fn) as pool: for result in pool.map(frames): ...``

    ``fn(runtime, item)`` runs in the worker that owns ``runtime``. At most ``max_pending``
    items are queued or in flight, so a fast producer (a video decoder) cannot fill memory.
    Results come back in input order; an exception in ``fn`` is re-raised at that item's turn.
    """

    def __init__(self, runtimes: list, fn: Callable[[Any, Any], Any], max_pending: int | None = None):
        if not runtimes:
            raise ValueError("the pool needs at least one runtime context")
        self.runtimes, self.fn = list(runtimes), fn
        self.max_pending = max_pending or 2 * len(self.runtimes)
        self.tasks: queue.Queue = queue.Queue()
        self.results: dict[int, tuple[bool, Any]] = {}
        self.cond = threading.Condition()
        self.workers = [threading.Thread(target=self._work, args=(rt,), daemon=True, name=f"pool-{i}")
                        for i, rt in enumerate(self.runtimes)]
        for w in self.workers:
            w.start()

    def _work(self, runtime) -> None:
        while True:
            task = self.tasks.get()
            if task is _STOP:
                return
            seq, item = task
            try:
                res = (True, self.fn(runtime, item))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                res = (False, e)
            with self.cond:
                self.results[seq] = res
                self.cond.notify_all()

    def map(self, items: Iterable) -> Iterator:
        it = iter(items)
        sent = done = 0
        exhausted = False
        while True:
            # top up the queue, but never block on the input while the next result is ready: a live source's
            # next frame may be a frame-interval away, and the result waiting would age by as much
            while not exhausted and sent - done < self.max_pending and (done == sent or done not in self.results):
                try:
                    item = next(it)
                except StopIteration:
                    exhausted = True
                    break
                self.tasks.put((sent, item))
                sent += 1
            if exhausted and done == sent:
                return
            with self.cond:
                while done not in self.results:
                    self.cond.wait()
                ok, value = self.results.pop(done)
            done += 1
            if not ok:
                raise value
            yield value

    def close(self) -> None:
        for _ in self.workers:
            self.tasks.put(_STOP)
        for w in self.workers:
            w.join(30)

    def __enter__(self) -> "OrderedPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
