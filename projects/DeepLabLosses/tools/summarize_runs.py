#!/usr/bin/env python
"""Mean ± sample std over seeds of finished train_net runs, as a Markdown table.

    python projects/DeepLabLosses/tools/summarize_runs.py CE=out/ce_s1,out/ce_s2 "CE + LS=out/ls_s1,out/ls_s2"
        [--per-class]

--per-class adds the per-class IoU and boundary-F1 tables (means over seeds).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deeplab_losses.summary import PER_CLASS_PREFIXES, format_per_class_table, format_table, summarize_runs  # noqa: E402,E501


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", metavar="NAME=DIR[,DIR...]", help="a row: its name and its run folders")
    parser.add_argument("--per-class", action="store_true", help="also print per-class IoU and boundary F1")
    args = parser.parse_args(argv)
    groups = {}
    for spec in args.groups:
        name, sep, dirs = spec.partition("=")
        if not sep or not dirs:
            parser.error(f"{spec!r}: expected NAME=DIR[,DIR...]")
        groups[name] = dirs.split(",")
    rows = summarize_runs(groups)
    print(format_table(rows))
    if args.per_class:
        for prefix in PER_CLASS_PREFIXES:
            print(f"\nper class: {prefix}<class> (mean over seeds)\n")
            print(format_per_class_table(rows, prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
