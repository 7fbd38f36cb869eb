"""Stage 02_patch · Patch the head (02_patch_heads.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


def patch_conclusions(m: dict) -> list[dict]:
    ok = m["parity_ok"]
    out = [{"id": "head_parity", "value": ok, "holds": ok, "text":
            (f"The patched heads compute what ultralytics computes: dense boxes within {m['max_box_diff_px']:.1e} px and "
             f"scores within {m['max_score_diff']:.1e}; after NMS {m['final_detections_compared']} detections compared, "
             f"{m['final_unmatched']} unmatched. Moving DFL and the decode to the CPU changes nothing but where they run."
             if ok else f"The patched head does NOT match ultralytics (box diff {m['max_box_diff_px']} px, "
             f"{m['final_unmatched']} unmatched detections): do not export it; see the parity table.")}]
    if "numpy_decode_max_diff_px" in m:
        d = m["numpy_decode_max_diff_px"]
        out.append({"id": "numpy_decode", "value": d, "holds": d < 1e-3, "text":
                    f"The dozen lines of numpy decode give the same boxes as helpers' decoder (largest difference "
                    f"{d:.1e} px): the DFL is a softmax over 16 bins and its expectation, nothing more."})
    return out


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    out = []
    if "numpy_decode_max_diff_px" in m:
        d = m["numpy_decode_max_diff_px"]
        out.append(check("numpy_decode", d < 1e-3, f"numpy decode vs helpers' decoder: {d:.2g} px",
                          "the board decoder and the textbook decode disagree: report it"))
    return out + [check("parity", m["parity_ok"], f"patched head vs ultralytics: box diff {m['max_box_diff_px']:.2g} px, "
                   f"{m['final_unmatched']} unmatched detections", "the head patch does not fit this model's Detect "
                   "layer: check MODEL and the ultralytics version (requirements.txt pins it)")]


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    return {k: m[k] for k in ("max_box_diff_px", "max_score_diff", "final_unmatched", "parity_ok")}


STAGE = Stage("02_patch", inputs={"variants": ('01_train', 'variants'), "imgsz": ('01_train', 'imgsz'), "data_yaml": ('01_train', 'data_yaml')},
              headline=headline, conclusions=patch_conclusions, checks=checks)
