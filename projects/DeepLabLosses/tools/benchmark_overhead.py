#!/usr/bin/env python
"""Time a training step with CE only vs CE+LS vs CE+SEMEDA (and optionally CE+Sobel) in one interleaved run
and print the ratios to CE (target <= 1.05).

    .venv/bin/python projects/DeepLabLosses/tools/benchmark_overhead.py \
        [--config-file CONFIG] [--size 256 256] [--batch 2] [--repeats 5] [--sobel] [KEY VALUE ...]

Default config: the VOC 2012 DeepLabV3+ R-103 config (random init, BN instead of SyncBN when not distributed).
"""
import argparse
import datetime
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import deeplab_losses  # noqa: E402,F401
from deeplab_losses.benchmark import benchmark_overhead  # noqa: E402
from deeplab_losses.engine import PROJECT_ROOT  # noqa: E402

DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, "configs/PascalVOC-SBD-SemanticSegmentation/"
                                            "deeplab_v3_plus_R_103_os16_poly_30k_bs16_ce.yaml")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEFAULT_CONFIG)
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sobel", action="store_true", help="also time CE+Sobel")
    p.add_argument("opts", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    opts = list(a.opts)
    if not torch.cuda.is_available():
        opts = ["MODEL.RESNETS.NORM", "BN", "MODEL.SEM_SEG_HEAD.NORM", "BN"] + opts  # SyncBN needs a process group
    variants = ("CE", "CE+LS", "CE+SEMEDA") + (("CE+Sobel",) if a.sobel else ())
    res = benchmark_overhead(a.config_file, variants, tuple(a.size), a.batch, a.repeats, opts=opts,
                             threads=a.threads)
    print(f"# {datetime.date.today()} {platform.node()} {platform.processor() or platform.machine()} "
          f"torch {torch.__version__} threads {torch.get_num_threads()}")
    print(f"# config {os.path.relpath(a.config_file)} size {a.size[0]}x{a.size[1]} batch {a.batch} "
          f"repeats {a.repeats} (interleaved)")
    print("| variant | median step (s) | ratio to CE |")
    print("|---|---|---|")
    for name, r in res.items():
        print(f"| {name} | {r['median_s']:.3f} | {r['ratio']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
