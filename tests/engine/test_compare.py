"""levelset_rcnn.engine.compare (tools/compare_models.py): argument checks, config overrides and a smoke run
(2 iterations, one seed, both models), and the table of levelset_rcnn.evaluation.comparison_table."""
import json
import math
import uuid

import pytest

import levelset_rcnn  # noqa: F401
from detectron2.data import DatasetCatalog, MetadataCatalog

from levelset_rcnn.engine import compare


def _metrics(model, seed, ap, initial=None):
    m = {"bbox": {"AP": ap + 1}, "segm": {"AP": ap, "AP50": 2 * ap, "AP75": ap / 2},
         "boundary": {"AP": ap - 1}, "boundary_f1": {"AF1": 30.0 + seed, "AF2": math.nan},
         "timing": {"train_s_per_iter": 0.5, "inference_s_per_image": 0.25},
         "run": {"model": model, "seed": seed}}
    if initial is not None:
        m["segm_initial"] = {"AP": initial}
    return m


def test_make_table():
    table = compare.make_table({
        "mask_rcnn": [_metrics("mask_rcnn", 1, 10.0), _metrics("mask_rcnn", 2, 12.0)],
        "levelset_rcnn": [_metrics("levelset_rcnn", 1, 11.0, initial=9.0), _metrics("levelset_rcnn", 2, 13.0, 10.0)],
    }, "demo")
    lines = table.splitlines()
    mask_row = next(l for l in lines if l.startswith("| Mask R-CNN | 2 |"))
    cells = [c.strip() for c in mask_row.strip("|").split("|")]
    # mean ± sample std over the 2 seeds; AF2 all NaN -> "–"; no initial masks for Mask R-CNN
    assert cells[2:6] == ["12.0 ± 1.4", "11.0 ± 1.4", "22.0 ± 2.8", "5.5 ± 0.7"]
    assert cells[6:9] == ["–", "–", "–"]  # APs / APm / APl not in these results
    assert cells[9:14] == ["10.0 ± 1.4", "31.5 ± 0.7", "–", "–", "–"]
    assert cells[14:] == ["0.500 ± 0.000", "0.250 ± 0.000"]
    ls_row = next(l for l in lines if l.startswith("| LevelSet R-CNN | 2 |"))
    ls_cells = [c.strip() for c in ls_row.strip("|").split("|")]
    # initial 9.0 / 10.0, final 11.0 / 13.0: final - initial per run 2.0 / 3.0
    assert ls_cells[12:14] == ["9.5 ± 0.7", "2.5 ± 0.7"]
    assert sum(l.startswith("| LevelSet R-CNN | ") for l in lines) == 3  # summary + 2 seeds


def test_parse_args():
    args = compare.parse_args(["--smoke", "--train", "a", "--test", "b", "--seeds", "3", "4"])
    assert args.seeds == [3] and args.iters == 3
    with pytest.raises(SystemExit):
        compare.parse_args(["--train", "a", "--test", "b", "--seeds", "1", "1"])
    with pytest.raises(SystemExit):
        compare.parse_args(["--train", "a", "--test", "b", "--iters", "0"])


def test_parse_models(tmp_path):
    args = compare.parse_args(["--train", "a", "--test", "b"])
    assert list(args.models) == ["mask_rcnn", "levelset_rcnn"]  # the default quickstart pair
    assert args.iters is None and args.min_size is None  # the configs' own schedule
    args = compare.parse_args(["--train", "a", "--test", "b",
                               "--model", "Mask R-CNN=configs/balloon/mask_rcnn_lite0_FPN.yaml",
                               "--model", "LevelSet R-CNN (lite0)=configs/balloon/levelset_rcnn_lite0_FPN.yaml"])
    assert list(args.models) == ["mask_rcnn", "levelset_rcnn_lite0"]
    assert args.models["levelset_rcnn_lite0"][0] == "LevelSet R-CNN (lite0)"
    assert args.models["mask_rcnn"][1].endswith("configs/balloon/mask_rcnn_lite0_FPN.yaml")
    for bad in (["--model", "no-equals-sign.yaml"], ["--model", f"X={tmp_path / 'missing.yaml'}"],
                ["--model", "A=configs/balloon/mask_rcnn_lite0_FPN.yaml", "--model", "a=configs/balloon/mask_rcnn_lite0_FPN.yaml"]):
        with pytest.raises(SystemExit):
            compare.parse_args(["--train", "a", "--test", "b"] + bad)


def test_schedule_overrides_only_where_given(tmp_path):
    args = compare.parse_args(["--train", "levelset_shapes_train", "--test", "levelset_shapes_val"])
    opts = compare.build_opts(args, 1, str(tmp_path))
    keys = opts[::2]
    assert "SOLVER.MAX_ITER" not in keys and "INPUT.MIN_SIZE_TRAIN" not in keys and "SOLVER.BASE_LR" not in keys
    args = compare.parse_args(["--train", "levelset_shapes_train", "--test", "levelset_shapes_val", "--iters", "100",
                               "--min-size", "200", "--lr", "0.005"])
    opts = dict(zip(*[iter(compare.build_opts(args, 1, str(tmp_path)))] * 2))
    assert opts["SOLVER.MAX_ITER"] == "100" and opts["SOLVER.STEPS"] == "(75, 90)"
    assert opts["INPUT.MIN_SIZE_TRAIN"] == "(200,)" and opts["SOLVER.BASE_LR"] == "0.005"


def test_unregistered_dataset(tmp_path):
    args = compare.parse_args(["--train", "no_such_dataset_xyz", "--test", "no_such_dataset_xyz"])
    with pytest.raises(KeyError, match="no_such_dataset_xyz"):
        compare.build_opts(args, 1, str(tmp_path))


def test_smoke_run(tmp_path, one_thread):
    from levelset_rcnn.data import register_shapes_dataset

    prefix = f"cmp_smoke_{uuid.uuid4().hex[:6]}"
    register_shapes_dataset(str(tmp_path / "data"), prefix=prefix,
                            splits={"train": {"num_images": 4, "seed": 1}, "val": {"num_images": 2, "seed": 2}},
                            image_size=(64, 64))
    out = tmp_path / "out"
    try:
        all_metrics = compare.compare_models(compare.parse_args([
            "--smoke", "--iters", "2", "--train", f"{prefix}_train", "--test", f"{prefix}_val",
            "--min-size", "64", "--max-size", "64", "--batch", "2", "--output", str(out),
            "MODEL.RPN.POST_NMS_TOPK_TEST", "20", "TEST.DETECTIONS_PER_IMAGE", "5",
            "MODEL.RPN.POST_NMS_TOPK_TRAIN", "32", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
        ]))
    finally:
        for split in ("train", "val"):
            DatasetCatalog.remove(f"{prefix}_{split}")
            MetadataCatalog.remove(f"{prefix}_{split}")
    assert list(all_metrics) == ["mask_rcnn", "levelset_rcnn"]
    for key, runs in all_metrics.items():
        (m,) = runs
        assert {"bbox", "segm", "boundary", "boundary_f1", "timing"} <= set(m), key
        assert m["timing"]["train_s_per_iter"] > 0 and m["timing"]["inference_s_per_image"] > 0
        saved = json.loads((out / f"{key}_seed1" / "comparison_metrics.json").read_text())
        assert saved["run"]["seed"] == 1 and saved["run"]["model"] == key
        assert (saved["run"]["train"], saved["run"]["test"]) == (f"{prefix}_train", f"{prefix}_val")
        assert saved["run"]["config"].endswith(f"configs/quickstart/{key}_R_18_FPN_shapes.yaml")
    assert "segm_initial" in all_metrics["levelset_rcnn"][0] and "segm_initial" not in all_metrics["mask_rcnn"][0]
    table = (out / "comparison.md").read_text()
    assert "| Mask R-CNN | 1 |" in table and "| LevelSet R-CNN | 1 |" in table and "Boundary AP" in table


def test_finished_runs_are_reused_not_retrained(tmp_path):
    out = tmp_path / "out"
    args = compare.parse_args(["--train", "levelset_shapes_train", "--test", "levelset_shapes_val", "--seeds", "1",
                               "--output", str(out), "--title", "reused"])
    for key in args.models:
        (out / f"{key}_seed1").mkdir(parents=True)
        (out / f"{key}_seed1" / compare.METRICS_FILE).write_text(json.dumps(_metrics(key, 1, 10.0)))
    all_metrics = compare.compare_models(args)
    assert [m["run"]["seed"] for m in all_metrics["mask_rcnn"]] == [1]
    table = (out / "comparison.md").read_text()
    assert table.startswith("**reused**") and "| Mask R-CNN | 1 |" in table and "| LevelSet R-CNN | 1 |" in table
