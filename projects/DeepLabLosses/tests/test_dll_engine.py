"""The project's Trainer: exact resume, all-ignore batches, label maps with values outside the classes."""
import numpy as np
import pytest
import torch
from PIL import Image
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import HookBase
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

from deeplab_losses.data.generated import generate_sem_shapes, load_sem_shapes
from deeplab_losses.engine import Trainer, setup_cfg

N = 4


def _config(dll_project_root, name="deeplab_v3_plus_shapes_ls.yaml"):
    return str(dll_project_root / "configs" / "quickstart" / name)


@pytest.fixture
def register():
    names = []

    def _register(name, records):
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, lambda: records)
        MetadataCatalog.get(name).set(stuff_classes=["c%d" % i for i in range(5)], ignore_label=255,
                                      evaluator_type="sem_seg")
        names.append(name)
        return name

    yield _register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


class Killed(Exception):
    pass


class KillAfter(HookBase):
    def __init__(self, last):
        self.last = last

    def after_step(self):
        if self.trainer.iter == self.last:
            raise Killed()


def _train(config, dataset, out, kill_after=None, resume=False, num_workers=0):
    opts = ["DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(N),
            "DATALOADER.NUM_WORKERS", str(num_workers),
            "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "3", "SOLVER.CHECKPOINT_PERIOD", str(N // 2),
            "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64", "INPUT.CROP.ENABLED", "True",
            "INPUT.CROP.TYPE", "absolute", "INPUT.CROP.SIZE", "(48, 48)", "OUTPUT_DIR", str(out)]
    cfg = setup_cfg(config, opts)
    seed_all_rng(cfg.SEED)
    trainer = Trainer(cfg)
    if kill_after is not None:
        trainer.register_hooks([KillAfter(kill_after)])
    trainer.resume_or_load(resume=resume)
    try:
        trainer.train()
    except Killed:
        pass
    return trainer


@pytest.mark.parametrize("images, num_workers", [(1, 0), (5, 2), (5, 4)])
def test_resume_gives_the_weights_of_the_uninterrupted_run(tmp_path, dll_project_root, register, one_thread_dll,
                                                           images, num_workers):
    """Poly LR with warm-up, SGD momentum, random crops and flips: N straight == N/2 + kill + resume; with several
    shuffled images mapped by 2 or 4 data-loading workers, the checkpoint's data position
    (levelset_core.data.loader) gives the resumed run the batches and crops of the uninterrupted one."""
    records = load_sem_shapes(generate_sem_shapes(str(tmp_path / "data"), "val", images, seed=5))
    name = register(f"dll_test_resume_{images}_images", records)
    config = _config(dll_project_root)
    straight = _train(config, name, tmp_path / "straight", num_workers=num_workers)
    _train(config, name, tmp_path / "resumed", kill_after=N // 2 - 1, num_workers=num_workers)
    resumed = _train(config, name, tmp_path / "resumed", resume=True, num_workers=num_workers)
    assert resumed.start_iter == N // 2
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    half = torch.load(tmp_path / "resumed" / f"model_{N // 2 - 1:07d}.pth", weights_only=True)["model"]
    assert any(not torch.equal(b[k], half[k]) for k in b), "the resumed iterations did not train"
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume"


def test_a_batch_of_ignore_labels_gives_a_zero_loss(dll_project_root, one_thread_dll):
    cfg = setup_cfg(_config(dll_project_root, "deeplab_v3_plus_shapes_ce.yaml"), [])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    head = model.sem_seg_head
    inputs = [{"image": torch.rand(3, 64, 64) * 255, "sem_seg": torch.full((64, 64), 255, dtype=torch.long)}
              for _ in range(2)]
    with EventStorage(0):
        losses = model(inputs)
    assert float(losses["loss_sem_seg"]) == 0.0
    assert all(torch.isfinite(v) for v in losses.values())
    assert head.num_all_ignore_batches == 1
    sum(losses.values()).backward()  # still part of the graph
    # a batch with one labelled pixel is an ordinary cross-entropy
    inputs[0]["sem_seg"][10, 10] = 1
    with EventStorage(0):
        losses = model(inputs)
    assert float(losses["loss_sem_seg"]) > 0 and head.num_all_ignore_batches == 1


def test_training_mapper_names_a_label_outside_the_classes(tmp_path, dll_project_root, register):
    image, label = tmp_path / "img.png", tmp_path / "label.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(image)
    labels = np.zeros((64, 64), np.uint8)
    labels[20:30, 20:30] = 20  # 5 classes, ignore 255: 20 is neither
    Image.fromarray(labels).save(label)
    name = register("dll_test_label_20", [{"file_name": str(image), "sem_seg_file_name": str(label),
                                           "height": 64, "width": 64, "image_id": 0}])
    cfg = setup_cfg(_config(dll_project_root, "deeplab_v3_plus_shapes_ce.yaml"),
                    ["DATASETS.TRAIN", f"('{name}',)", "SOLVER.IMS_PER_BATCH", "1",
                     "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "64"])
    loader = Trainer.build_train_loader(cfg)
    with pytest.raises(ValueError) as info:
        next(iter(loader))
    message = str(info.value)
    assert str(label) in message and "label 20" in message and "NUM_CLASSES" in message
