"""Quiet training: a line every few epochs on screen, ultralytics' full log in a file the notebook names.

    with training_log.to_file(stage / "relu.train.log", "relu") as on_epoch:
        yolo.add_callback("on_fit_epoch_end", on_epoch)
        yolo.train(...)

Ultralytics prints a progress bar per batch and a validation table per epoch: several hundred lines
per model, which bury a notebook's output (and its HTML report). Inside :func:`to_file` its logger,
its progress bars (they write to ``sys.stdout``) and warnings go to the log file; the callback it
yields prints a line for about :data:`SCREEN_EPOCHS` epochs of a run (the first, every k-th, the last, and the
final validation) to the screen and one for every epoch to the log. A training that fails shows the last lines of its
log before the error travels on, so nothing is hidden when it matters.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

TAIL_LINES = 25
#: epoch lines a run shows on screen, about (two runs side by side of 75 epochs: 22 lines, not 150)
SCREEN_EPOCHS = 10


def shown(epoch: int, epochs: int) -> bool:
    """Whether epoch ``epoch`` (1-based) of ``epochs`` gets its line on screen: the first, every k-th, the last."""
    step = max(1, -(-epochs // SCREEN_EPOCHS))
    return epoch == 1 or epoch == epochs or epoch % step == 0


def _stream_handlers(logger: logging.Logger) -> list[logging.StreamHandler]:
    return [h for h in logger.handlers if type(h) is logging.StreamHandler]


def epoch_line(label: str, trainer, seconds: float, final: bool = False) -> str:
    """``relu  12/75  loss box 1.210 cls 1.050 dfl 1.100  val mAP50 0.614 mAP50-95 0.402  19.6 s``

    ``final``: ultralytics' last validation, of the best checkpoint (the figures the record keeps).
    """
    losses = ""
    try:  # ultralytics' own labels for its running mean of the training losses
        items = trainer.label_loss_items(trainer.tloss, prefix="train")
        losses = "  loss " + " ".join(f"{k.split('/')[-1].replace('_loss', '')} {float(v):.3f}" for k, v in items.items())
    except Exception:  # noqa: BLE001 - a model without them still gets its line
        pass
    m = getattr(trainer, "metrics", None) or {}
    val = "".join(f" {short} {m[key]:.3f}" for short, key in (("mAP50", "metrics/mAP50(B)"),
                                                              ("mAP50-95", "metrics/mAP50-95(B)"),
                                                              ("pose mAP50-95", "metrics/mAP50-95(P)")) if key in m)
    if final:
        return f"{label}  best.pt, final validation:{val}  {seconds:.1f} s"
    return (f"{label}  {trainer.epoch + 1:>3}/{trainer.epochs}{losses}" + (f"  val{val}" if val else "")
            + f"  {seconds:.1f} s")


@contextlib.contextmanager
def to_file(log_file: str | Path, label: str):
    """Send ultralytics' output to ``log_file`` while the block runs; yield the one-line-per-epoch callback."""
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    screen = sys.stdout
    started = [time.perf_counter()]
    printed = set()

    def on_epoch(trainer):  # ultralytics' on_fit_epoch_end: after the epoch's validation
        now = time.perf_counter()
        final = False
        try:
            final = trainer.epoch in printed or trainer.epoch >= trainer.epochs  # after the epochs: best.pt's check
            printed.add(trainer.epoch)
            line = epoch_line(label, trainer, now - started[0], final)
        except Exception as e:  # noqa: BLE001 - a line that cannot be made must not stop a training
            line = f"{label}  epoch {getattr(trainer, 'epoch', -1) + 1} ({type(e).__name__} while summarising it)"
        print(line, flush=True)  # the log file (stdout is redirected to it here)
        if final or shown(getattr(trainer, "epoch", -1) + 1, getattr(trainer, "epochs", 1)):
            print(line, file=screen, flush=True)
        started[0] = now

    logger = logging.getLogger("ultralytics")
    with open(log_file, "w", buffering=1) as f:
        handlers = _stream_handlers(logger)
        previous = [h.setStream(f) for h in handlers]
        print(f"{label}: training; ultralytics' full log -> {log_file}", file=screen, flush=True)
        try:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield on_epoch
        except BaseException:
            f.flush()
            tail = log_file.read_text(errors="replace").splitlines()[-TAIL_LINES:]
            print(f"{label}: training stopped; the last lines of {log_file}:\n" + "\n".join(tail), file=sys.stderr)
            raise
        finally:
            for h, s in zip(handlers, previous):
                h.setStream(s)
