"""ReLU against SiLU on ncnn, the pose model, this CPU (prints figures, asserts nothing).

    .venv/bin/python benchmarks/ncnn_pose_bench.py [--imgsz 320] [--runs 100] [--model yolov8n-pose]

Both models are built from ultralytics' own yaml (activation key ReLU or SiLU, 1 class, 9 keypoints),
cut at the ncnn head, converted by pnnx with fp16 weights, and timed by ncnn on the same fixed input:
per thread count, the median of ``--runs`` runs after a warm-up, ReLU then SiLU. Weights do not
matter for speed (untrained models, same architecture), so nothing is trained or downloaded.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--model", default="yolov8n-pose")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    from helpers.model import ncnn_export, pose_head
    from helpers.runfolder import offline
    from helpers.experiments import pose_eval
    from helpers.model.activations import build_model, parse_model, write_model_yaml

    family, scale = parse_model(args.model)
    with tempfile.TemporaryDirectory() as d:
        offline.configure_ultralytics(d)
        params = {}
        for act in ("relu", "silu"):
            m = build_model(write_model_yaml(d, act, scale, nc=1, family=family), 1, (9, 3)).eval()
            params[act] = ncnn_export.export_ncnn(pose_head.patch_pose(m, "ncnn", fuse=True), Path(d), args.imgsz, act)
        print(f"{args.model} at {args.imgsz} px, ncnn, fp16 weights; fused ReLU convolutions: "
              f"{params['relu']['fused']}, SiLU Swish layers: {params['silu']['census_ncnn'].get('Swish', 0)}")
        for row in pose_eval.relu_vs_silu_latency(params["relu"]["param"], params["silu"]["param"], args.imgsz,
                                                  tuple(args.threads), args.runs):
            print(f"threads {row['threads']}: ReLU {row['relu_median_ms']} ms (IQR {row['relu_iqr_ms']}), "
                  f"SiLU {row['silu_median_ms']} ms (IQR {row['silu_iqr_ms']}): SiLU/ReLU = {row['silu_over_relu']}")


if __name__ == "__main__":
    main()
