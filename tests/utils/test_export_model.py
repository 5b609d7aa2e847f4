"""levelset_rcnn.utils.export_model (tools/export_model.py): export a model given by config + weights, compare
traced and eager outputs on images; clear errors."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from repo_paths import REPO_ROOT
from tiny_model import save_tiny_model

from levelset_rcnn.utils.export_model import ExportError, default_check_images, export_model


def _save_images(folder, sizes):
    paths = []
    for i, (h, w) in enumerate(sizes):
        path = folder / f"im{i}.png"
        Image.fromarray((np.random.default_rng(i).random((h, w, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_export_end_to_end(tmp_path, one_thread, capsys):
    _, _, config, weights = save_tiny_model(tmp_path / "m")
    images = _save_images(tmp_path, [(96, 128), (112, 112)])
    path, worst, checks = export_model(str(tmp_path / "out"), config_file=config, sample_image=images[0],
                                       check_images=images, levelsets=True, opts=["MODEL.WEIGHTS", weights])
    assert path == str(tmp_path / "out" / "model.ts") and checks == 2 and worst <= 1e-4
    assert (tmp_path / "out" / "model.ts").is_file() and (tmp_path / "out" / "model.ts.json").is_file()
    out = capsys.readouterr().out
    assert "pred_levelsets" in out and out.count("max |traced - eager|") == 2
    assert default_check_images(images[0]) == images  # the sample and the next images of its folder


def test_export_names_a_truncated_sample_image_and_refuses_a_non_checkpoint(tmp_path):
    _, _, config, weights = save_tiny_model(tmp_path / "tiny")
    bad = tmp_path / "sample.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:600])
    with pytest.raises(OSError, match="sample.jpg"):
        export_model(str(tmp_path / "out"), config_file=config, sample_image=str(bad), opts=["MODEL.WEIGHTS", weights])
    with pytest.raises(ValueError, match="sample.jpg is not a checkpoint"):
        export_model(str(tmp_path / "out"), config_file=config, opts=["MODEL.WEIGHTS", str(bad)])
    with pytest.raises(ExportError, match="sample image not found"):
        export_model(str(tmp_path / "out"), config_file=config, sample_image=str(tmp_path / "no.png"),
                     opts=["MODEL.WEIGHTS", weights])


def test_the_tool_exports_and_checks(tmp_path):
    """tools/export_model.py run as a command: argument parsing plus export_model; exit 0 when traced == eager."""
    _, _, config, weights = save_tiny_model(tmp_path / "m")
    (image,) = _save_images(tmp_path, [(96, 128)])
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "export_model.py"), "--config-file", config,
                           "--output", str(tmp_path / "out"), "--sample-image", image, "--check-images", image,
                           "--opts", "MODEL.WEIGHTS", weights], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "traced == eager within 0.0001 on 1 image(s)" in proc.stdout
