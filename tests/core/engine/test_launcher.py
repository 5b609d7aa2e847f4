"""Multi-process training on the CPU (gloo) through levelset_core.engine.launch (driving LevelSet R-CNN's Trainer),
and the CPU AMP trainer."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from repo_paths import REPO_ROOT
from model_helpers import SMALL_MODEL_OPTS
from levelset_core.engine import CPUAMPTrainer, build_step_trainer, launch, resolve_backend
from levelset_rcnn.engine import setup_cfg

QUICKSTART = str(REPO_ROOT / "configs/quickstart/levelset_rcnn_R_18_FPN_shapes.yaml")
TINY_TRAINING = SMALL_MODEL_OPTS + [
    "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.BASE_LR", "0.01",
    "DATALOADER.NUM_WORKERS", "0", "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
    "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "SOLVER.CHECKPOINT_PERIOD", "1000",
]

WORKER = textwrap.dedent('''
    import json, sys
    import torch
    import levelset_rcnn
    from detectron2.utils import comm
    from levelset_core.engine import launch
    from levelset_rcnn.engine import Trainer, setup_cfg

    def main(config, opts, out):
        cfg = setup_cfg(config, opts, output_dir=out)
        trainer = Trainer(cfg)
        model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        trainer.resume_or_load(resume=False)
        trainer.train()
        after = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"after": after, "before": before, "world_size": comm.get_world_size(),
                    "ddp": type(trainer.model).__name__, "iter": trainer.iter},
                   f"{out}/rank{comm.get_rank()}.pth")

    if __name__ == "__main__":
        config, opts, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
        launch(main, 2, backend="gloo", args=(config, opts, out))
''')


def test_two_cpu_processes_with_gloo_train_to_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    res = subprocess.run([sys.executable, str(script), QUICKSTART, json.dumps(TINY_TRAINING), str(tmp_path)],
                         cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pth", weights_only=False) for r in (0, 1)]
    for state in ranks:
        assert state["world_size"] == 2 and state["ddp"] == "DistributedDataParallel" and state["iter"] == 3
    changed = [k for k, v in ranks[0]["after"].items() if not torch.equal(v, ranks[0]["before"][k])]
    assert len(changed) > 10, "training did not update the weights"
    assert ranks[0]["after"].keys() == ranks[1]["after"].keys()
    for k, v in ranks[0]["after"].items():
        assert torch.equal(v, ranks[1]["after"][k]), f"ranks differ in {k}"


def test_backend_choice_and_single_process_launch():
    assert resolve_backend("gloo") == "gloo"
    assert resolve_backend("auto") == ("nccl" if torch.cuda.is_available() else "gloo")
    with pytest.raises(ValueError, match="dist-backend"):
        resolve_backend("mpi-typo")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_backend("nccl")
    assert launch(lambda a, b: a + b, 1, args=(2, 3)) == 5  # one process: runs in place


def test_amp_on_the_cpu_uses_bfloat16_autocast_and_trains(one_thread):
    """SOLVER.AMP.ENABLED on the CPU: a bfloat16-autocast trainer (detectron2's AMPTrainer asserts CUDA);
    a few steps of the tiny model give finite losses and float32 parameters."""
    from detectron2.modeling import build_model
    from detectron2.solver import build_optimizer
    from detectron2.utils.events import EventStorage

    from levelset_rcnn.engine import Trainer

    cfg = setup_cfg(QUICKSTART, TINY_TRAINING + ["SOLVER.AMP.ENABLED", "True", "MODEL.DEVICE", "cpu"])
    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer = build_optimizer(cfg, model)
    loader = Trainer.build_train_loader(cfg)
    step_trainer = build_step_trainer(cfg, model, loader, optimizer)
    assert isinstance(step_trainer, CPUAMPTrainer) and step_trainer.dtype == torch.bfloat16
    seen = {}

    def hook(module, inputs, output):
        seen["feature_head"] = output.dtype

    model.roi_heads.mask_head.feature_head.register_forward_hook(hook)
    with EventStorage(0) as storage:
        for it in range(2):
            storage.iter = it
            step_trainer.iter = it
            step_trainer.storage = storage
            step_trainer.run_step()
        losses = {k: v.median(1) for k, v in storage.histories().items() if k.startswith("loss")}
    assert seen["feature_head"] == torch.bfloat16  # the heads ran under autocast
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


def test_amp_with_cuda_device_but_no_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is available")
    from detectron2.config import get_cfg

    from levelset_rcnn import add_levelset_rcnn_config

    cfg = add_levelset_rcnn_config(get_cfg())
    cfg.SOLVER.AMP.ENABLED = True
    cfg.MODEL.DEVICE = "cuda"
    with pytest.raises(RuntimeError, match="no GPU"):
        build_step_trainer(cfg, torch.nn.Linear(1, 1), [], None)
