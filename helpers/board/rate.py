"""Who limits the frame rate, the source or the pipeline: one sentence from what a run measured."""

from __future__ import annotations

#: a live run counts as keeping up when it dropped at most this share of what the source delivered
KEEPS_UP_DROPPED = 0.05
#: ... or when it waited for frames at least this share of its time: then its drops are frames that arrived
#: together (a stream's bursts), not a backlog (a short run drops 1 of 15 frames, 7 %, that way)
KEEPS_UP_WAITING = 0.5
#: a run that hands out every frame is held by its source when it processed at least this share of the
#: rate the source gives frames at when asked (1000 / mean ms per read)
KEEPS_UP_READS = 0.9

STAGE_NAMES = {"preprocess_ms": "preprocessing (letterbox and layout)", "inference_ms": "inference",
               "postprocess_ms": "postprocessing (decode and NMS)"}


def rate_verdict(src: dict, processed: int, wall_s: float, timings: dict, contexts: int) -> dict:
    """Who limits the frame rate, from what a run measured: one sentence, and the figures behind it.

    ``src`` is :meth:`FrameSource.summary`, ``timings`` the runner's per-stage means (ms per frame).
    A live run (newest frame) keeps up when it dropped at most 5 % of what the source delivered, or when it
    spent at least half its time waiting for the next frame (its drops then came in the source's bursts):
    then the source limits the rate. A run that takes every frame is held by its source when it processed
    at least 90 % of the rate the source gives frames at (``read_fps``: 1000 / mean ms per read; a
    file decodes in a fraction of a millisecond, a throttled stream's read waits a frame interval).
    The pipeline's capacity is ``contexts × 1000 / mean end-to-end ms``: exact for one context; for
    several it assumes they run side by side (an RK3588's three NPU cores do; a PC's CPU may not).
    """
    e2e = (timings.get("end_to_end_ms") or {}).get("mean")
    capacity = round(contexts * 1000 / e2e, 1) if e2e else None
    processed_fps = round(processed / wall_s, 2) if wall_s > 0 else None
    delivered_fps = src.get("delivered_fps")
    stages = {k: v["mean"] for k, v in timings.items() if k in STAGE_NAMES}
    slowest = max(stages, key=stages.get) if stages else None
    dropped_share = src["dropped"] / src["delivered"] if src.get("delivered") else 0.0
    waiting = src.get("waited_s", 0.0) / wall_s if wall_s > 0 else 0.0
    if src["frames"] == "newest":
        source_bound = dropped_share <= KEEPS_UP_DROPPED or waiting >= KEEPS_UP_WAITING
    else:
        delivered_fps = src.get("read_fps")
        source_bound = bool(delivered_fps and processed_fps and processed_fps >= KEEPS_UP_READS * delivered_fps)
    side = ", if they run side by side" if contexts > 1 else ""
    could = (f"an estimate, not a measurement, of what the pipeline alone could do: about {capacity:g} frames/s "
             f"({contexts} context{'s' if contexts > 1 else ''} × 1000 / {e2e:g} ms per frame{side}; a file, read as "
             "fast as it decodes, measures it)") if capacity else "the pipeline had time to spare"
    if source_bound:
        got = f"delivers {delivered_fps:g} frames/s" if delivered_fps else "delivered the frames slower than"
        burst = (f", in bursts: the runner waited for frames {100 * waiting:.0f} % of the time"
                 if src["frames"] == "newest" and dropped_share > KEEPS_UP_DROPPED else "")
        sentence = (f"the source limits the rate: it {got} and the pipeline processed {processed_fps:g} frames/s "
                    f"({src['dropped']} dropped{burst}); {could}")
    else:
        stage = (f"; its slowest stage is {STAGE_NAMES[slowest]}, {stages[slowest]:g} of {e2e:g} ms per frame"
                 if slowest and e2e else "")
        if src["frames"] == "newest":
            got = (f"processed {processed_fps:g} frames/s of the {delivered_fps:g} the source delivered, "
                   f"dropping {src['dropped']} of {src['delivered']} ({100 * dropped_share:.0f} %)")
        else:
            got = f"processed {processed_fps:g} frames/s, every frame in order"
        sentence = f"the pipeline limits the rate: it {got}{stage}"
    return {"limited_by": "source" if source_bound else "pipeline", "sentence": sentence,
            "waiting_share": round(waiting, 3),
            "processed_fps": processed_fps, "delivered_fps": delivered_fps, "capacity_fps": capacity,
            "capacity_basis": "contexts × 1000 / mean end-to-end ms", "dropped_share": round(dropped_share, 4),
            "slowest_stage": slowest}
