"""Stage 07_deploy · Deploy (07_deploy_board.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


def tiling(t: dict) -> dict:
    """07's tiling table (whole frame, tiles, cascade) in words."""
    w, ti = t["whole frame"], t["tiles"]
    return {"id": "tiling", "value": {"whole": w["recall"], "tiles": ti["recall"]}, "text":
            f"On the large frame, the whole frame letterboxed to the model size finds {w['found']} of {w['objects']} "
            f"small objects (recall {w['recall']}); tiles find {ti['found']} (recall {ti['recall']}) at "
            f"{ti['end_to_end_ms'] / w['end_to_end_ms']:.1f}× the time per frame "
            f"({ti['end_to_end_ms']:.0f} vs {w['end_to_end_ms']:.0f} ms)" + (
                f"; the cascade finds {t['cascade']['found']}." if "cascade" in t else ".")}


def live_table(live: dict) -> dict:
    """07's stream-vs-file table: one column per run, the runner's own figures."""
    cols = {}
    for name, key in ((f"stream ({live['fps']:g} frames/s source)", "stream"), ("the same video as a file", "file")):
        r = live[key]
        cols[name] = {"source delivers (frames/s)": r["source"]["delivered_fps"] if key == "stream" else
                      r["source"]["read_fps"], "processed (frames/s)": r["rate"]["processed_fps"],
                      "frames processed": r["frames"], "dropped": r["source"]["dropped"],
                      "end-to-end ms (mean)": r["timings"]["end_to_end_ms"]["mean"],
                      "limited by": r["rate"]["limited_by"], "stopped": r["source"]["stopped_why"]}
    return cols


def live_source(live: dict) -> dict:
    """07's live stream: the frame-rate cap a camera puts on a pool, reproduced with this run's numbers."""
    st, fi, pairs = live["stream"]["rate"], live["file"]["rate"], live["pairs"]
    same = pairs["equal"] == pairs["paired"] > 0
    capped = st["limited_by"] == "source"
    if capped:
        lead = (f"A {live['fps']:g} frames/s stream caps the pipeline: with {live['cores']} contexts the runner "
                f"processed {st['processed_fps']:g} frames/s of it ({live['stream']['source']['dropped']} dropped), "
                f"while the same video as a file ran at {fi['processed_fps']:g} frames/s, as fast as the pipeline goes")
    else:  # a slow or busy machine: the stream outran the pipeline, and the sentence says so
        lead = (f"Here the pipeline, not the {live['fps']:g} frames/s stream, set the rate: with {live['cores']} "
                f"contexts the runner processed {st['processed_fps']:g} frames/s of it "
                f"({live['stream']['source']['dropped']} dropped; the file: {fi['processed_fps']:g} frames/s), so this "
                "machine could not show the camera's cap (a lower STREAM_FPS shows it)")
    return {"id": "live_source", "holds": capped and fi["limited_by"] == "pipeline" and same,
            "value": {"stream_fps": st["processed_fps"], "file_fps": fi["processed_fps"], "source_fps": live["fps"],
                      "paired": pairs["paired"], "equal": pairs["equal"], "capped": capped}, "text":
            lead + f"; the runner's own verdict on the stream: \"{st['sentence']}\". More NPU cores cannot raise a "
            "rate the camera sets, as an RK3588 deployment report found (one core to three: a local video from 14 to "
            "40 frames/s, the 15 frames/s network camera unchanged). The stream's detections equal the file's in "
            f"{pairs['equal']} of {pairs['paired']} frames, paired by their index in the source."}


def emulated_board(b: dict) -> dict:
    """07's board section run on the emulated board: what it proved, and what a real board adds."""
    st, c, lbx, e2e = b["stack"], b["comparison"], b["letterbox"], b["end_to_end"]
    hal = st.get("opencv_hal", "") or ""
    hals = hal[hal.find("(") + 1:hal.rfind(")")] if "(" in hal else hal  # "YES (carotene (ver ..) KleidiCV (..))"
    why = (f" Its OpenCV resizes through custom HALs ({hals}), so its letterbox differs from the PC's by up to "
           f"{lbx['max_grey_levels']} grey level ({100 * lbx['share_differing']:.0f}% of the values). End to end, "
           f"with the PC's own letterbox, scores moved by up to {e2e['max_score_diff']:.2g} and boxes by up to "
           f"{e2e['max_box_diff']:.2g} px: how far one grey level moves this model's outputs, not an error of the "
           "board, which is why the detections are compared on the board's own canvases."
           if hal.upper().startswith("YES") else " Its OpenCV letterboxes exactly as the PC's (the canvases are "
           "equal value by value); only float rounding differs.")
    return {"id": "emulated_board", "value": {"board": b["board"], "equals_pc": b["equals_pc"],
                                              "max_score_diff": c["max_score_diff"], "max_box_diff": c["max_box_diff"],
                                              "letterbox_grey_levels": lbx["max_grey_levels"],
                                              "end_to_end_box_diff": e2e["max_box_diff"]},
            "holds": b["equals_pc"], "text":
            f"Over SSH, the emulated {b['soc']} ({b['board']}: Python {st['python']}, numpy {st['numpy']}, OpenCV "
            f"{st['cv2']}) took the bundle, ran it on {b['frames']} frames with the {b['backend']} backend and gave "
            f"{'the detections' if b['equals_pc'] else 'other detections than'} the PC's model gives on the same "
            f"letterboxed frames: largest score difference {c['max_score_diff']:.2g}, box {c['max_box_diff']:.2g} px "
            f"(tolerance {c['score_tol']} / {c['box_tol']} px: rounding)." + why + " Everything but the NPU is proven "
            f"there; a real board still needs its librknnrt.so (the version check said: "
            f"{b['npu_check'].splitlines()[-1].lstrip('- ')}). Times under emulation are not board times: there, "
            f"inference ran {b['emulation_factor']:.0f}× slower than on this PC."}


def deploy_conclusions(m: dict) -> list[dict]:
    fps = m["frames_per_second"]
    one, many = fps["1"], fps[str(max(int(k) for k in fps))]
    n = max(int(k) for k in fps)
    out = [{"id": "runner_equals_notebook", "value": m["runner_equals_notebook"], "holds": m["runner_equals_notebook"],
            "text": ("The bundle's runner, a separate program with no torch, gives exactly the notebook's detections."
                     if m["runner_equals_notebook"] else "The bundle's runner disagrees with the notebook: see the "
                     "comparison above before copying it to a board.")},
           {"id": "contexts", "value": round(many / one, 2), "text":
            f"{n} runtime contexts in the ordered pool run {many} frames/s against {one} with one "
            f"({many / one:.2f}×) on this {m['cores']}-core PC's simulator; on an RK3588 each context gets its own NPU "
            "core, and the board figure is the one to trust."},
           tiling(m["tiling"])]
    if m.get("live"):
        out.append(live_source(m["live"]))
    if m.get("board", {}).get("emulated"):
        out.append(emulated_board(m["board"]))
    return out


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    return [check("runner_equals_notebook", m["runner_equals_notebook"], "the bundle's runner gives the notebook's "
                   "detections" if m["runner_equals_notebook"] else "the bundle's runner differs from the notebook",
                   "compare config.json (conf, iou, score_sum) with the notebook's settings; rebuild the bundle"),
            check("pool_equals_single", m["pool_equals_single"], "the ordered pool returns the single context's "
                   "results in order", "the pool reordered or lost frames: report it with the frames' names")
            ] + _live(m.get("live")) + _board(m.get("board", {}))


def _live(live: dict | None) -> list:
    if not live:
        return []
    st, fi, pairs = live["stream"]["rate"], live["file"]["rate"], live["pairs"]
    return [check("stream_is_source_limited", st["limited_by"] == "source", f"the stream run: {st['sentence']}",
                  "the pipeline could not keep up with the stream on this machine: lower STREAM_FPS, or use fewer, "
                  "smaller frames; on a board, more contexts (--cores)", stop=False),
            check("file_is_pipeline_limited", fi["limited_by"] == "pipeline", f"the file run: {fi['sentence']}",
                  "reading the file was the slowest part: a file on a slow disk or network", stop=False),
            check("stream_equals_file", pairs["equal"] == pairs["paired"] > 0,
                  f"{pairs['equal']} of {pairs['paired']} stream frames have the file's detections (paired by index)",
                  "the stream's frames differ from the file's: was it re-encoded on the way (ffmpeg -c copy keeps them)?")]


def _board(b: dict) -> list:
    if not b.get("emulated"):
        return []
    return [check("emulated_board_equals_pc", b["equals_pc"],
                   f"on the emulated board ({b['board']}): {b['comparison_text']}",
                   "the board's numpy/OpenCV/runtime changed the result: run `python3 run.py --selftest` there, and "
                   "compare its versions with the bundle README's tested ones")]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    fps = m["frames_per_second"]
    return {"bundle_files": len(m["files"]), "bundle_MB": round(sum(f["KB"] for f in m["files"]) / 1024, 2),
            "runner_equals_notebook": m["runner_equals_notebook"], "pool_equals_single": m["pool_equals_single"],
            "sim_frames_per_s_1": fps["1"], f"sim_frames_per_s_{m['cores']}": fps[str(m["cores"])],
            "tiling_recall": {k: v["recall"] for k, v in m["tiling"].items()},
            **({"stream_limited_by": m["live"]["stream"]["rate"]["limited_by"],
                "stream_vs_file_fps": [m["live"]["stream"]["rate"]["processed_fps"],
                                       m["live"]["file"]["rate"]["processed_fps"]]} if m.get("live") else {}),
            "board": ("none" if not m["board"]["connected"] else
                      f"emulated {m['board'].get('board', '')} (no NPU runtime)" if m["board"].get("emulated") else
                      "connected")}


STAGE = Stage("07_deploy", inputs={"ship": ('05_quantize', 'ship'), "calibration": ('05_quantize', 'calibration'), "model_onnx": ('05_quantize', 'onnx'), "imgsz": ('03_export', 'imgsz'), "data_yaml": ('01_train', 'data_yaml')},
              headline=headline, conclusions=deploy_conclusions, checks=checks)
