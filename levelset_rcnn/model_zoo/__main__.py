"""The model zoo's command line.

    python -m levelset_rcnn.model_zoo MODEL_ZOO.md [--check]     # regenerate (or check) MODEL_ZOO.md's table
    python -m levelset_rcnn.model_zoo install NAME FILE_OR_RELEASE_FOLDER   # a fetched checkpoint -> the cache
    python -m levelset_rcnn.model_zoo verify NAME [--checkpoint FILE]       # row config == the checkpoint's config?

``MODEL_ZOO.md``: :func:`levelset_rcnn.model_zoo.table.update_model_zoo_md` (from ``model_zoo.json``). ``install``:
:func:`levelset_rcnn.model_zoo.install.install_checkpoint` (sha256 checked against the row; then
``model_zoo.get(NAME)`` finds the file). ``verify``: :func:`levelset_rcnn.model_zoo.verify.config_drift`.
"""
import argparse
import sys

from .checkpoints import CheckpointNotAvailableError, ChecksumMismatchError
from .table import update_model_zoo_md


#: the errors a verb reports as a one-line message (exit code 2) instead of a traceback
_USER_ERRORS = (ChecksumMismatchError, CheckpointNotAvailableError, FileNotFoundError, KeyError, ValueError)


def _parse(verb, description, argv, *arguments):
    """Parse ``argv`` of ``python -m levelset_rcnn.model_zoo VERB``; ``arguments``: ``(name, help)`` pairs."""
    parser = argparse.ArgumentParser(prog=f"python -m levelset_rcnn.model_zoo {verb}", description=description)
    for name, help_text in arguments:
        parser.add_argument(name, help=help_text)
    return parser.parse_args(argv)


def _install(argv):
    from .install import install_checkpoint

    args = _parse("install", "Install a fetched checkpoint where model_zoo.get(NAME) finds it (its sha256 must be "
                  "the table's).", argv, ("name", "model zoo row, e.g. balloon/levelset_rcnn_lite0_FPN"),
                  ("source", "the checkpoint file (model_final_<sha8>.pth) or a release folder"))
    dest = install_checkpoint(args.name, args.source)
    print(f"installed {dest}: model_zoo.get({args.name!r}) loads it")
    return 0


def _verify(argv):
    from .verify import config_drift, format_drift, recorded_config_path

    args = _parse("verify", "Check that a row's config, resolved today, is the config saved with its checkpoint "
                  "(without the checkpoint: its recorded training config, model_zoo/trained_configs/).",
                  argv, ("name", "model zoo row or release folder"),
                  ("--checkpoint", "the checkpoint file (default: the one model_zoo.get finds)"))
    try:
        drift, against = config_drift(args.name, args.checkpoint), "the checkpoint's saved config"
    except CheckpointNotAvailableError:
        recorded = recorded_config_path(args.name)
        if args.checkpoint or not recorded.is_file():
            raise
        drift, against = config_drift(args.name, config_text=recorded.read_text(encoding="utf-8")), str(recorded)
    if drift:
        print(format_drift(args.name, drift), file=sys.stderr)
        return 1
    print(f"{args.name}: the row's config, resolved today, equals {against}")
    return 0


VERBS = {"install": _install, "verify": _verify}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in VERBS:
        try:
            return VERBS[argv[0]](argv[1:])
        except _USER_ERRORS as e:
            print(f"{argv[0]}: error: {e.args[0] if e.args else e}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="python -m levelset_rcnn.model_zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="MODEL_ZOO.md (or the verb install / verify, see above)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    up_to_date = update_model_zoo_md(args.path, check=args.check)
    print(f"{args.path}: " + ("up to date" if up_to_date else "out of date" if args.check else "rewritten"))
    return 1 if args.check and not up_to_date else 0


if __name__ == "__main__":
    sys.exit(main())
