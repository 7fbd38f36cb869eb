#!/usr/bin/env python
"""Make the workbook's reference checkpoints (data/checkpoints/): every model the notebooks after 01 need, trained
with the main job's defaults on the embedded datasets, each stored small beside its manifest (helpers/model/references.py).

    .venv/bin/python scripts/train_checkpoints.py                 # all of them (about 45 min on a 2-core CPU)
    .venv/bin/python scripts/train_checkpoints.py --only yolov8n-pose-relu
    .venv/bin/python scripts/train_checkpoints.py --check         # are the shipped ones still what this code makes?

Training goes into --work (default runs/checkpoints); a run finished there with the same settings is reused, so an
interrupted call goes on where it stopped.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.model import checkpoints, references  # noqa: E402
from helpers.runfolder.artifacts import resolve_run_dir  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="runs/checkpoints", help="where the training runs go (relative: the project root)")
    ap.add_argument("--dest", default=str(checkpoints.SHIPPED), help="where the checkpoints and manifests go")
    ap.add_argument("--only", nargs="*", choices=list(checkpoints.REFERENCES), help="make only these")
    ap.add_argument("--check", action="store_true", help="only say whether the shipped ones are still current")
    args = ap.parse_args(argv)
    if args.check:
        why = references.stale(args.dest)
        print("\n".join(why) if why else f"the checkpoints in {args.dest} match this code")
        return 1 if why else 0
    from helpers.runfolder.offline import configure_ultralytics

    work = resolve_run_dir(args.work)
    configure_ultralytics(work)
    t0 = time.perf_counter()
    made = references.train_references(work, Path(args.dest), args.only)
    for name, m in made.items():
        f = m["figures"]
        print(f"{name}.pt: {m['bytes'] / 2**20:.2f} MB, {f['epochs']} epochs at {f['seconds_per_epoch']} s/epoch, "
              f"mAP50 {f.get('pose_mAP50', f['mAP50'])}, mAP50-95 {f.get('pose_mAP50_95', f['mAP50_95'])}")
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min: {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
