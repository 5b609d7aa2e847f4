"""``python -m levelset_rcnn.model_zoo MODEL_ZOO.md [--check]``: regenerate (or check) the table of MODEL_ZOO.md
from ``model_zoo.json`` (:func:`levelset_rcnn.model_zoo.table.update_model_zoo_md`)."""
import argparse
import sys

from .table import update_model_zoo_md


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="MODEL_ZOO.md")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    up_to_date = update_model_zoo_md(args.path, check=args.check)
    print(f"{args.path}: " + ("up to date" if up_to_date else "out of date" if args.check else "rewritten"))
    return 1 if args.check and not up_to_date else 0


if __name__ == "__main__":
    sys.exit(main())
