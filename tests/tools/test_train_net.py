"""tools/train_net.py end to end (subprocess): a VIA folder given on the command line, train, evaluate."""
import json
import os
import subprocess
import sys

from repo_paths import REPO_ROOT


def run_train_net(args, tmp_path, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="2")
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "train_net.py")] + args
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def test_train_then_eval_on_balloon_folder(tmp_path, shared_dataset):
    balloon = shared_dataset("balloon")
    out = tmp_path / "out"
    common = [
        "--config-file", str(REPO_ROOT / "configs" / "quickstart" / "levelset_rcnn_R_18_FPN_shapes.yaml"),
        "--dataset-folder", f"balloon={balloon}",
    ]
    opts = [
        "DATASETS.TRAIN", "('balloon_train',)", "DATASETS.TEST", "('balloon_val',)",
        "MODEL.ROI_HEADS.NUM_CLASSES", "1", "INPUT.MASK_FORMAT", "polygon",
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "3", "SOLVER.WARMUP_ITERS", "1",
        "SOLVER.STEPS", "()", "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", str(out),
    ]
    proc = run_train_net(common + opts, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "model_final.pth").is_file()
    assert (out / "config.yaml").is_file()
    # evaluation at the end of training wrote COCO-format results for bbox, segm and the initial masks
    assert (out / "inference" / "coco_instances_results.json").is_file()
    log = (out / "log.txt").read_text()
    assert "Evaluation results for segm" in log and "Evaluation results for bbox" in log

    proc = run_train_net(common + ["--eval-only"] + opts + ["MODEL.WEIGHTS", str(out / "model_final.pth"),
                                                             "OUTPUT_DIR", str(tmp_path / "eval")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    preds = json.loads((tmp_path / "eval" / "inference" / "coco_instances_results.json").read_text())
    assert isinstance(preds, list)


def test_unknown_config_key_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f'_BASE_: "{REPO_ROOT / "configs" / "Base-LevelSet-RCNN-FPN.yaml"}"\nMODEL:\n  LEVELSET:\n    NUM_ITERATONS: 2\n')
    proc = run_train_net(["--config-file", str(bad)], tmp_path, timeout=300)
    assert proc.returncode != 0
    assert "NUM_ITERATONS" in proc.stderr and str(bad) in proc.stderr


def test_eval_only_without_weights_is_refused(tmp_path):
    """--eval-only with an empty MODEL.WEIGHTS would evaluate a random model and exit 0."""
    proc = run_train_net(["--config-file", str(REPO_ROOT / "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml"),
                          "--eval-only", "OUTPUT_DIR", str(tmp_path / "out")], tmp_path, timeout=300)
    assert proc.returncode != 0
    assert "--eval-only needs trained weights" in proc.stderr and "MODEL.WEIGHTS" in proc.stderr
    assert not (tmp_path / "out" / "inference").exists()


def test_eval_only_weights_check(tmp_path):
    from argparse import Namespace

    import pytest
    from levelset_core.engine.cli import check_eval_only_weights
    from levelset_rcnn.engine.defaults import argument_parser, setup_cfg

    cfg = setup_cfg(str(REPO_ROOT / "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml"),
                    ["OUTPUT_DIR", str(tmp_path)])
    with pytest.raises(SystemExit, match="MODEL.WEIGHTS is empty"):
        check_eval_only_weights(cfg, Namespace(eval_only=True, resume=False, eval_random_init=False))
    # opt-in flag, training (no --eval-only), or --resume with a checkpoint in OUTPUT_DIR: allowed
    check_eval_only_weights(cfg, argument_parser().parse_args(["--eval-only", "--eval-random-init"]))
    check_eval_only_weights(cfg, Namespace(eval_only=False, resume=False, eval_random_init=False))
    with pytest.raises(SystemExit):
        check_eval_only_weights(cfg, Namespace(eval_only=True, resume=True, eval_random_init=False))
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    check_eval_only_weights(cfg, Namespace(eval_only=True, resume=True, eval_random_init=False))
