#!/usr/bin/env python
"""Plot mIoU and boundary F1 against the loss weight λ for one or more losses, with the baseline's band.

    python projects/DeepLabLosses/tools/plot_weight_sweep.py --out sweep.png \\
        --baseline out/ce_s1,out/ce_s2,out/ce_s3 \\
        --sweep "CE + LS" 4e-5=out/ls4e-5_s1 4e-4=out/ls_s1,out/ls_s2 \\
        --sweep "CE + SEMEDA (λ1; λ2 = λ1/2)" 1=out/semeda1_s1 4=out/semeda4_s1

Each --sweep is a loss name followed by LAMBDA=DIR[,DIR...] points (one folder per seed). Prints the numbers drawn.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deeplab_losses.summary import plot_weight_sweeps  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--baseline", required=True, metavar="DIR[,DIR...]", help="baseline runs, one per seed")
    parser.add_argument("--baseline-name", default="CE")
    parser.add_argument("--sweep", nargs="+", action="append", required=True, metavar="NAME LAMBDA=DIRS",
                        help="a loss name, then its LAMBDA=DIR[,DIR...] points")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    sweeps = {}
    for name, *points in args.sweep:
        if not points:
            parser.error(f"--sweep {name!r}: no LAMBDA=DIRS point")
        sweeps[name] = {}
        for spec in points:
            weight, sep, dirs = spec.partition("=")
            try:
                value = float(weight)
            except ValueError:
                value = None
            if not sep or not dirs or value is None:
                parser.error(f"--sweep {name!r}: {spec!r} is not LAMBDA=DIR[,DIR...] with a number LAMBDA")
            sweeps[name][value] = dirs.split(",")
    drawn = plot_weight_sweeps(args.baseline.split(","), sweeps, args.out, baseline_name=args.baseline_name,
                               title=args.title)
    for (name, metric), values in drawn.items():
        print(f"{name} | {metric}: {values}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
