#!/usr/bin/env python
"""Mean ± sample std over seeds of finished train_net runs, as a Markdown table.

    python projects/DeepLabLosses/tools/summarize_runs.py CE=out/ce_s1,out/ce_s2 "CE + LS=out/ls_s1,out/ls_s2"
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deeplab_losses.summary import format_table, summarize_runs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", metavar="NAME=DIR[,DIR...]", help="a row: its name and its run folders")
    args = parser.parse_args(argv)
    groups = {}
    for spec in args.groups:
        name, sep, dirs = spec.partition("=")
        if not sep or not dirs:
            parser.error(f"{spec!r}: expected NAME=DIR[,DIR...]")
        groups[name] = dirs.split(",")
    print(format_table(summarize_runs(groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
