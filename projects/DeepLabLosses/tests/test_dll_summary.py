"""deeplab_losses.summary: the seeds-to-table summary of finished runs."""
import json
import math

import pytest

from deeplab_losses.summary import format_per_class_table, format_table, read_run, summarize_runs


def _run(folder, miou, mbf, minutes, per_class=None):
    folder.mkdir()
    with open(folder / "metrics.json", "w") as f:
        f.write(json.dumps({"iteration": 9, "total_loss": 0.5}) + "\n")
        f.write(json.dumps({"iteration": 9, "sem_seg/mIoU": miou, "sem_seg/pACC": 90.0,
                            "sem_seg_boundary/mBF": mbf, "sem_seg_boundary/trimap1-mIoU": 20.0,
                            **(per_class or {})}) + "\n")
    (folder / "log.txt").write_text(f"... d2.engine.hooks INFO: Total training time: 0:{minutes:02d}:30 (0:00:01 on hooks)\n")
    return str(folder)


def test_mean_and_sample_std_over_seeds(tmp_path):
    a, b = _run(tmp_path / "a", 50.0, 30.0, 20), _run(tmp_path / "b", 54.0, 34.0, 22)
    assert read_run(a)["train_s"] == 20 * 60 + 30
    rows = summarize_runs({"CE": [a, b], "CE one": [a]})
    m, s = rows[0]["sem_seg/mIoU"]
    assert m == 52.0 and s == pytest.approx(math.sqrt(8.0))
    assert math.isnan(rows[1]["sem_seg/mIoU"][1])
    table = format_table(rows)
    assert "| CE | 2 | 52.0 ± 2.8 | 32.0 ± 2.8 | 20.0 ± 0.0 | – | 90.0 ± 0.0 | 21.5 ± 1.4 |" in table
    assert "| CE one | 1 | 50.0 |" in table


def test_unfinished_or_broken_runs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        read_run(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"iteration": 1, "total_loss": 1.0}) + "\n")
    with pytest.raises(ValueError, match="no evaluation result"):
        read_run(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1: not JSON"):
        read_run(tmp_path)


def test_per_class_table_is_the_mean_over_seeds(tmp_path):
    a = _run(tmp_path / "a", 50.0, 30.0, 20, {"sem_seg/IoU-sky": 90.0, "sem_seg/IoU-pole": 1.0,
                                               "sem_seg_boundary/BF-pole": 4.0, "sem_seg/ACC-pole": 7.0})
    b = _run(tmp_path / "b", 54.0, 34.0, 22, {"sem_seg/IoU-sky": 92.0, "sem_seg/IoU-pole": 3.0,
                                               "sem_seg_boundary/BF-pole": 6.0})
    rows = summarize_runs({"CE": [a, b]})
    assert "sem_seg/ACC-pole" not in rows[0]
    iou = format_per_class_table(rows)
    assert iou.splitlines()[0] == "| loss | sky | pole |" and iou.splitlines()[2] == "| CE | 91.0 | 2.0 |"
    assert format_per_class_table(rows, "sem_seg_boundary/BF-").splitlines()[2] == "| CE | 5.0 |"
    with pytest.raises(ValueError, match="no per-class results with prefix 'sem_seg/F1-'"):
        format_per_class_table(rows, "sem_seg/F1-")


def test_weight_sweep_plot_draws_the_runs_numbers(tmp_path):
    import os
    import subprocess
    import sys

    from deeplab_losses.summary import plot_weight_sweeps, weight_sweep

    ce = [_run(tmp_path / f"ce{i}", m, 30.0, 10) for i, m in enumerate((50.0, 52.0))]
    ls = {4e-5: [_run(tmp_path / "a", 49.0, 29.0, 10)],
          4e-4: [_run(tmp_path / "b", 53.0, 31.0, 10), _run(tmp_path / "c", 55.0, 33.0, 10)]}
    assert weight_sweep(ls)[1][:2] == (4e-4, 54.0) and weight_sweep(ls)[0][3] == 1
    out = tmp_path / "plots" / "sweep.png"
    drawn = plot_weight_sweeps(ce, {"CE + LS": ls}, str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn[("CE", "mIoU")] == (51.0, pytest.approx(math.sqrt(2.0)))
    assert [p[1] for p in drawn[("CE + LS", "boundary F1 (mBF)")]] == [29.0, 32.0]
    with pytest.raises(ValueError, match="no sweep"):
        plot_weight_sweeps(ce, {}, str(out))
    tool = os.path.join(os.path.dirname(__file__), "..", "tools", "plot_weight_sweep.py")
    res = subprocess.run([sys.executable, tool, "--out", str(tmp_path / "t.png"), "--baseline", ",".join(ce),
                          "--sweep", "CE + LS", f"4e-5={ls[4e-5][0]}"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and (tmp_path / "t.png").is_file()
    bad = subprocess.run([sys.executable, tool, "--out", str(tmp_path / "u.png"), "--baseline", ce[0],
                          "--sweep", "CE + LS", "small=" + ce[0]], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "'small=" in bad.stderr
