"""train_net.py of the project trains with two CPU processes (gloo) through levelset_core's launch.

(That the ranks end with identical weights is tested for the shared launch/trainer in tests/engine/test_launch.py.)
"""
import subprocess
import sys

import torch


def test_train_net_trains_with_two_gloo_processes(tmp_path, dll_project_root, dll_data_root):
    out = tmp_path / "run"
    cmd = [
        sys.executable, str(dll_project_root / "train_net.py"), "--num-gpus", "2", "--dist-backend", "gloo",
        "--config-file", str(dll_project_root / "configs/quickstart/deeplab_v3_plus_shapes_ls.yaml"),
        "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
        "DATASETS.TRAIN", "('dll_shapes_sem_mini',)", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
        "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "OUTPUT_DIR", str(out),
    ]
    res = subprocess.run(cmd, cwd=str(dll_project_root), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    log = (out / "log.txt").read_text()
    assert "World size: 2" in log, log[-2000:]
    state = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    assert any(k.startswith("sem_seg_head.") for k in state)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_eval_only_without_weights_is_refused(tmp_path, dll_project_root):
    cmd = [sys.executable, str(dll_project_root / "train_net.py"), "--eval-only",
           "--config-file", str(dll_project_root / "configs/quickstart/deeplab_v3_plus_shapes_ce.yaml"),
           "OUTPUT_DIR", str(tmp_path / "out")]
    res = subprocess.run(cmd, cwd=str(dll_project_root), capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "--eval-only needs trained weights" in res.stderr and "MODEL.WEIGHTS" in res.stderr
    assert not (tmp_path / "out" / "inference").exists()
