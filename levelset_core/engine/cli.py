"""Command-line helpers shared by both projects' ``train_net.py``: refusing ``--eval-only`` without weights."""
import os

from ..checkpoint import SafeCheckpointer

__all__ = ["add_eval_only_arguments", "check_eval_only_weights", "load_eval_weights"]


def add_eval_only_arguments(parser):
    """``--eval-random-init``: allow ``--eval-only`` without ``MODEL.WEIGHTS`` (see :func:`check_eval_only_weights`)."""
    parser.add_argument(
        "--eval-random-init",
        action="store_true",
        help="with --eval-only: evaluate even though MODEL.WEIGHTS is empty (a randomly initialised model; "
        "only useful to test a pipeline)",
    )
    return parser


def check_eval_only_weights(cfg, args):
    """Refuse ``--eval-only`` with an empty ``MODEL.WEIGHTS``: it would evaluate a randomly initialised model
    and exit 0. Allowed with ``--resume`` when ``OUTPUT_DIR`` has a checkpoint (that one is evaluated) or with
    ``--eval-random-init``. Raises ``SystemExit`` with the reason."""
    if not getattr(args, "eval_only", False) or cfg.MODEL.WEIGHTS or getattr(args, "eval_random_init", False):
        return
    if getattr(args, "resume", False) and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")):
        return
    raise SystemExit(
        "--eval-only needs trained weights, but MODEL.WEIGHTS is empty (the model would be randomly initialised "
        "and its numbers meaningless): add MODEL.WEIGHTS path/to/model_final.pth, or --resume with OUTPUT_DIR "
        "holding a training's last_checkpoint; --eval-random-init evaluates a random model on purpose"
    )


def load_eval_weights(cfg, model, args, checkpointer_class=SafeCheckpointer):
    """``--eval-only``: check the weights are given (:func:`check_eval_only_weights`) and load them with
    ``checkpointer_class`` (default :class:`levelset_core.checkpoint.SafeCheckpointer`: no code from the file
    runs); returns the model."""
    check_eval_only_weights(cfg, args)
    checkpointer_class(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
    return model
