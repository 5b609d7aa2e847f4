"""TorchScript export by tracing (levelset_rcnn/utils/export.py): the traced model reproduces the eager outputs on
the CPU, also on images of other sizes and contents than the trace's and on an image without detections."""
import numpy as np
import pytest
import torch

from tiny_model import save_tiny_model

from levelset_rcnn.utils.export import ExportedModel, save_exported, trace_model


def _image(seed, h, w):
    return torch.as_tensor(np.random.default_rng(seed).random((3, h, w)) * 255, dtype=torch.float32)


def _assert_same(eager, traced):
    assert len(eager) == len(traced) > 0
    assert set(eager.get_fields()) == set(traced.get_fields())
    for name in eager.get_fields():
        a, b = eager.get(name), traced.get(name)
        a, b = getattr(a, "tensor", a), getattr(b, "tensor", b)
        assert a.shape == b.shape, name
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    torch.set_num_threads(1)
    cfg, model, _, _ = save_tiny_model(folder)
    model.roi_heads.inference_levelsets = True
    traced, fields = trace_model(model, _image(0, 96, 128))
    path = save_exported(traced, fields, str(folder / "model.ts"), cfg.INPUT.FORMAT)
    return model, ExportedModel(path), fields


def test_traced_model_reproduces_eager_outputs(exported):
    model, exported_model, fields = exported
    assert {"pred_boxes", "scores", "pred_classes", "pred_masks", "pred_masks_initial",
            "pred_levelset_hparams", "pred_levelsets"} <= set(fields)
    for seed, (h, w) in [(0, (96, 128)), (1, (128, 96)), (2, (80, 80))]:  # the trace image and two others
        image = _image(seed, h, w)
        with torch.no_grad():
            eager = model([{"image": image, "height": 2 * h, "width": 2 * w}])[0]["instances"]
        _assert_same(eager, exported_model(image, 2 * h, 2 * w))  # masks pasted at 2x, boxes rescaled


def test_image_without_detections_runs_through_a_trace_made_with_detections(tmp_path):
    """Empty RoI batches take the same ops (indexing with an empty arange, split of zero rows): no blocker."""
    torch.set_num_threads(1)
    cfg, model, _, _ = save_tiny_model(tmp_path)
    a, b = _image(0, 96, 96), torch.zeros(3, 96, 96)
    with torch.no_grad():
        best = [float(model([{"image": x}])[0]["instances"].scores.max()) for x in (a, b)]
    assert best[0] != best[1]
    if best[0] < best[1]:
        a, b = b, a
    # a score threshold between the two images' best scores: the trace image has detections, the other none
    model.roi_heads.box_predictor.test_score_thresh = sum(best) / 2
    traced, fields = trace_model(model, a)
    exported_model = ExportedModel(save_exported(traced, fields, str(tmp_path / "m.ts"), cfg.INPUT.FORMAT))
    with torch.no_grad():
        eager = model([{"image": b}])[0]["instances"]
    assert len(eager) == 0
    traced_out = exported_model(b)
    assert len(traced_out) == 0
    assert traced_out.pred_masks.shape == (0, 96, 96)
