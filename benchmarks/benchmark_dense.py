#!/usr/bin/env python
"""Inference on the densest images of a dataset: the trained models of a comparison side by side (time per image, the
mask branch's share, LevelSet R-CNN's parts, peak memory), on the CPU or a GPU.

    # the nuclei triple of docs/RESULTS.md (seed-1 models), the 8 nuclei_dsb2018_val images with >= 100 nuclei,
    # one thread, 7 interleaved repeats, on a quiet machine
    python benchmarks/benchmark_dense.py --runs output/compare/nuclei_ab26 --seed 1 \\
        --dataset nuclei_dsb2018_val --min-instances 100 --threads 1 --json output/bench/dense.json
    # the same, and LevelSet R-CNN's trained weights once more with its fine head's MLP on a 56x56 grid (speed only)
    python benchmarks/benchmark_dense.py --runs output/compare/nuclei_ab26 --seed 1 \
        --dataset nuclei_dsb2018_val --min-instances 100 --threads 1 \
        --levelset-opts MODEL.LEVELSET.FEATURE_HEAD.POOLER_RESOLUTION 56

Protocol and definitions: :mod:`levelset_rcnn.utils.benchmark.dense`. The machine's load is recorded around every
part and a loaded run is flagged (as in benchmarks/benchmark.py; docs/BENCHMARKS.md, "How to measure").
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # a source checkout without `pip install -e .`

import levelset_rcnn  # noqa: E402,F401  (first: registers heads and detectron2._C when missing)
from levelset_rcnn.utils.benchmark.dense import argument_parser, run_dense_benchmark  # noqa: E402


def main(argv=None):
    args = argument_parser(__doc__).parse_args(argv)
    command = "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv or sys.argv[1:]))
    return run_dense_benchmark(args, command)


if __name__ == "__main__":
    main()
