"""Deploy throughput with the bundle's own runner (a benchmark: prints figures, asserts nothing).

    .venv/bin/python benchmarks/deploy_bench.py [--bundle runs/main/07_deploy/bundle] [--backend simulator]
                                                [--frames 16] [--contexts 2]

For one backend and the same images: sequential frames/s (1 context) vs the ordered pool with N
contexts; tiled 1080p frames/s; and the share of post-processing in end-to-end time. On a board
run it with ``--backend rknnlite --contexts 3``; on this PC the simulator and onnxruntime stand in
(the simulator is a functional model of the NPU, not a timing model: its figures say nothing
about NPU speed, only about the runner's overheads and ordering).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from helpers.deploy import bundles

    p = argparse.ArgumentParser()
    p.add_argument("--bundle", default=str(ROOT / "runs" / "main" / "07_deploy" / "bundle"))
    p.add_argument("--backend", default="simulator")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--contexts", type=int, default=2)
    a = p.parse_args()
    bundle = Path(a.bundle)
    if not (bundle / "config.json").is_file():
        raise SystemExit(f"no bundle at {bundle}: run notebooks 01-07 first (bash scripts/main.sh)")
    samples = bundle / "samples"
    frames_dir = bundle.parent / "frames"
    out = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    common = ("--backend", a.backend, "--no-images", "--max-frames", str(a.frames))
    rows = []
    for label, src, extra in (("sequential, 1 context", samples, ()),
                              (f"pool, {a.contexts} contexts", samples, ("--cores", str(a.contexts))),
                              ("1080p frame, tiled", frames_dir, ("--tile", str(json.loads((bundle / "config.json").read_text())["imgsz"])))):
        res = bundles.run_here(bundle, src, out / label.replace(" ", "_").replace(",", ""), *common, *extra)
        t = res["timings"]
        share = t["postprocess_ms"]["mean"] / t["end_to_end_ms"]["mean"]
        rows.append((label, res["frames_per_second"], t["inference_ms"]["median"], t["postprocess_ms"]["median"],
                     t["end_to_end_ms"]["median"], share, len(res["frames"])))
    print(f"backend {a.backend}, bundle {bundle}")
    print(f"{'run':<26}{'frames/s':>10}{'infer ms':>10}{'post ms':>10}{'e2e ms':>10}{'post share':>12}{'frames':>8}")
    for r in rows:
        print(f"{r[0]:<26}{r[1]:>10.2f}{r[2]:>10.1f}{r[3]:>10.2f}{r[4]:>10.1f}{r[5]:>11.1%}{r[6]:>8}")


if __name__ == "__main__":
    main()
