"""Stage 01_train · Train (01_train_relu.ipynb): what it needs, what it concludes, what it checks, its headline.

Every finding is ``{"id", "value", "text"}`` (plus ``holds`` where the sentence flips): the chain
test re-derives each ``value`` from the recorded metrics, so a sentence can never drift from them.
"""

from __future__ import annotations

from .common import Stage, check


#: mAP50-95 difference under which two float models count as "the same" (one training run each: training noise)
SAME_TRAINING = 0.01


def relu_vs_silu_float(m: dict) -> dict:
    r, s = ({k: round(v[k], 4) for k in ("mAP50", "mAP50_95")} for v in (m["variants"]["relu"], m["variants"]["silu"]))
    gap = round(s["mAP50_95"] - r["mAP50_95"], 4)
    if gap > SAME_TRAINING:
        t = (m.get("transplant") or {}).get("final")
        why = (f"ReLU trails SiLU by {gap:.4f} mAP50-95 in float ({r['mAP50_95']} vs {s['mAP50_95']}; mAP50 "
               f"{r['mAP50']} vs {s['mAP50']}), one training run each. The reason usually given is the activation "
               "(ReLU zeroes every negative pre-activation, SiLU passes small negative values and is smooth); one run "
               "cannot separate that from training: "
               + (f"the ReLU model started from the SiLU twin's weights reached {t['transplanted']['mAP50_95']} (the "
                  "transplant below)" + (", SiLU's level: here the gap is one of training" if
                                         t["transplanted"]["mAP50_95"] >= s["mAP50_95"] else ", still short of SiLU")
                  if t else "the transplant (TRANSPLANT_EPOCHS) measures what starting from SiLU's weights reaches")
               + ". 06 answers whether INT8 keeps or changes the order.")
    elif gap < -SAME_TRAINING:
        why = (f"ReLU is ahead of SiLU in float by {-gap:.4f} mAP50-95 ({r['mAP50_95']} vs {s['mAP50_95']}): on "
               "this data and schedule the activation does not limit the model; one training run each, so read "
               "it as 'no loss', not as 'ReLU is better'.")
    else:
        why = (f"ReLU and SiLU end within {SAME_TRAINING} mAP50-95 of each other in float ({r['mAP50_95']} vs "
               f"{s['mAP50_95']}; mAP50 {r['mAP50']} vs {s['mAP50']}): on this data the cheaper activation costs "
               "nothing measurable.")
    return {"id": "relu_vs_silu_float", "value": gap, "holds": gap > SAME_TRAINING, "text": why}


def transplant_sentence(c: dict) -> str:
    """01's (and 08's) transplant comparison in words: first-epoch loss, mAP at equal epochs, epochs to catch up."""
    n = min(c["epochs"].values())  # the epochs both runs have
    ls, lt = c["loss_first_epochs"]["scratch"][:1], c["loss_first_epochs"]["transplanted"][:1]
    first = (f"After one epoch the transplanted model's training loss is {lt[0]:.2f} against {ls[0]:.2f} from "
             f"scratch" if ls and lt else "No epoch finished")
    eq = c["mAP50_at_equal_epochs"]
    longer = " at the same point of its longer schedule" if c["epochs"]["scratch"] > n else ""
    equal = (f"; after {n} epochs its val {c.get('metric', 'mAP50')} is {eq['transplanted']:.3f} against "
             f"{eq['scratch']:.3f} for the scratch run{longer}" if eq else "")
    reach = c["epochs_to_reach_scratch_final_mAP50"]
    m = c.get("metric", "mAP50")
    fs, ft = c["final"]["scratch"], c["final"]["transplanted"]
    end = (f"; it reached the scratch model's final {m} ({fs[m]}, after {c['epochs']['scratch']} epochs) "
           f"in {reach} epochs" if reach else
           f"; in {c['epochs']['transplanted']} epochs it did not reach the scratch model's final {m} "
           f"({fs[m]} after {c['epochs']['scratch']} epochs; transplanted: {ft[m]})")
    return first + equal + end + "."


def transplant_buys(m: dict) -> dict:
    t = m["transplant"]
    return {"id": "transplant", "value": {"first_loss": [t["loss_first_epochs"]["scratch"][0],
                                                         t["loss_first_epochs"]["transplanted"][0]],
                                          "epochs_to_scratch_final": t["epochs_to_reach_scratch_final_mAP50"]},
            "text": "Starting from the SiLU twin's weights (the filters carry over although the activation changed): "
                    + transplant_sentence(t)}


def strides_fire(m: dict) -> dict:
    use = m["stride_usage"]["relu"]
    silent = [k for k, v in use.items() if v == 0]
    init = m["variants"]["relu"].get("initial_box_px") or {}
    unfit = {k[1:]: 15 * int(k[1:]) for k in use}  # an untrained head: 7.5 of 16 bins a side, 15 strides wide
    text = ("Every stride produces final detections on the val set (" + ", ".join(f"{k}: {v}" for k, v in use.items())
            + ")." if not silent else f"Stride(s) {', '.join(silent)} never fire here: their outputs carry nothing "
            "to quantize (05/06 will show them as all-zero); retrain with FIT_BOXES=True or larger objects.")
    text += (" The untrained head's first boxes are " + ", ".join(f"{v:.0f} px at stride {s}" for s, v in unfit.items())
             + f" ({m['imgsz']}-px input)" + ("; FIT_BOXES started them at " + ", ".join(f"{v:.0f}" for v in init.values())
                                             + " px" if init else ", and FIT_BOXES was off")
             + ". A first box wider than the image is never the assigner's best match, so without FIT_BOXES the stride "
               "whose boxes start too large never gets a training target.")
    return {"id": "strides_fire", "value": silent, "holds": not silent, "text": text}


def training_curves(histories: dict, key: str = "metrics/mAP50-95(B)", close_mosaic: int = 0) -> str:
    """What to see in 01's training curves: where each run levels off, and what the last epochs did."""
    parts = []
    for name, rows in histories.items():
        ys = [r.get(key) for r in rows if r.get(key) is not None]
        if not ys:
            continue
        final = ys[-1]
        level = next(i + 1 for i, y in enumerate(ys) if y >= final - 0.01)
        parts.append(f"{name} reaches within 0.01 of its final {final:.3f} at epoch {level} of {len(ys)}")
    text = "In the curves: " + "; ".join(parts) + "."
    if close_mosaic:
        text += (f" The last {close_mosaic} epochs train without mosaic: the step in the losses there is the "
                 "augmentation switching off, not the model changing.")
    return text


def train_conclusions(m: dict) -> list[dict]:
    out = [relu_vs_silu_float(m)] if "silu" in m["variants"] and "relu" in m["variants"] else []
    out += [transplant_buys(m)] if m.get("transplant") else []
    return out + ([strides_fire(m)] if "relu" in m.get("stride_usage", {}) else [])


DETECTS_MAP50 = 0.15     # a trained model detects at all (01)


def checks(m: dict) -> list[dict]:
    """The stage's key expectations, read from its record."""
    r = m["variants"].get("relu") or next(iter(m["variants"].values()))
    out = [check("detects", r["mAP50"] >= DETECTS_MAP50, f"the ReLU model's val mAP50 is {r['mAP50']:.4f} "
                  f"(expected ≥ {DETECTS_MAP50})", "train longer (EPOCHS), check the labels with the dataset "
                  "tables above, or start from weights (WEIGHTS)", stop=False)]
    use = m.get("stride_usage", {}).get("relu")
    if use:
        silent = [k for k, v in use.items() if v == 0]
        out.append(check("strides_fire", not silent, "every stride produces detections" if not silent else
                          f"stride(s) {', '.join(silent)} produce no detection", "set FIT_BOXES=True and retrain, "
                          "or check that your data has objects large enough for the coarse strides", stop=False))
    return out


def headline(m: dict) -> dict:
    """The figures of the run's summary, from the record."""
    if "relu" not in m["variants"]:  # a brought SiLU model, not trained here
        (v, rec), = m["variants"].items()
        return {f"{v}_mAP50": round(rec["mAP50"], 4), "activation": rec["activation_kind"]["kind"],
                f"{v}_strides_firing": sum(n > 0 for n in m["stride_usage"][v].values())}
    relu = m["variants"]["relu"]
    h = {"relu_mAP50": round(relu["mAP50"], 4), "relu_mAP50_95": round(relu["mAP50_95"], 4),
         "relu_seconds_per_epoch": relu["seconds_per_epoch"], "epochs": relu["epochs"],
         "relu_silu_count": relu["activation_census"]["SiLU"],
         "relu_strides_firing": sum(n > 0 for n in m["stride_usage"]["relu"].values())}
    if "silu" in m["variants"]:
        silu = m["variants"]["silu"]
        h.update(silu_mAP50=round(silu["mAP50"], 4), silu_mAP50_95=round(silu["mAP50_95"], 4))
    if m.get("transplant"):
        t = m["transplant"]
        h.update(transplant_mAP50=t["final"]["transplanted"]["mAP50"], transplant_epochs=t["epochs"]["transplanted"],
                 transplant_epochs_to_scratch_final=t["epochs_to_reach_scratch_final_mAP50"])
    return h


STAGE = Stage("01_train", inputs={},
              headline=headline, conclusions=train_conclusions, checks=checks)
