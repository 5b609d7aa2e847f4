"""levelset_rcnn.utils.demo (tools/demo.py): images, a folder, a video; level-set pictures and sub-pixel polygons
(tiny random model); clear errors."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image
from repo_paths import REPO_ROOT
from tiny_model import save_tiny_model

from levelset_rcnn.utils.demo import DemoError, output_names, run_demo


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    _, _, config, weights = save_tiny_model(folder)
    return config, weights


def _images(folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray((rng.random((96, 112 + 16 * i, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_demo_on_a_folder_with_levelset_views_and_polygons(tmp_path, tiny, one_thread, capsys):
    config, weights = tiny
    _images(tmp_path / "in")
    out = tmp_path / "out"
    written = run_demo(str(out), inputs=[str(tmp_path / "in")], config_file=config, confidence_threshold=0.0,
                       levelset_view=1, contours_json=str(out / "polygons.json"), opts=["MODEL.WEIGHTS", weights])
    for stem in ("img0", "img1"):
        drawn = np.asarray(Image.open(out / f"{stem}.png"))
        assert drawn.shape[:2] == ((96, 112) if stem == "img0" else (96, 128))
        assert len(list(out.glob(f"{stem}_levelset_inst*.png"))) == 1
    printed = capsys.readouterr().out
    assert "λ1=" in printed and "Δt_n=[" in printed  # the learned hyperparameters are printed
    records = json.loads((out / "polygons.json").read_text())
    assert records and len(records) == written
    assert {"image_id", "category_id", "bbox", "score", "segmentation", "file_name"} <= set(records[0])


def test_demo_on_a_video(tmp_path, tiny, one_thread):
    config, weights = tiny
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 80))
    rng = np.random.default_rng(1)
    for _ in range(3):
        writer.write((rng.random((80, 96, 3)) * 255).astype(np.uint8))
    writer.release()
    out = tmp_path / "out.avi"
    run_demo(str(out), video_input=video, config_file=config, confidence_threshold=0.0,
             opts=["MODEL.WEIGHTS", weights])
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 3


def test_demo_on_a_balloon_image(tmp_path, tiny, one_thread, shared_dataset):
    balloon = shared_dataset("balloon")
    image = sorted((balloon / "val").glob("*.jpg"))[0]
    config, weights = tiny
    out = tmp_path / "b.png"
    run_demo(str(out), inputs=[str(image)], config_file=config, confidence_threshold=0.0, levelset_view=1,
             opts=["MODEL.WEIGHTS", weights])
    assert Image.open(out).size == Image.open(image).size
    assert list(tmp_path.glob("b_levelset_inst*.png"))


def test_demo_errors_are_clear(tmp_path, tiny):
    config, weights = tiny
    with pytest.raises(DemoError, match="no such image"):
        run_demo(str(tmp_path), inputs=[str(tmp_path / "missing*.png")], config_file=config,
                 opts=["MODEL.WEIGHTS", weights])
    with pytest.raises(DemoError, match="MODEL.WEIGHTS"):
        run_demo(str(tmp_path), inputs=[str(tmp_path)], config_file=config)
    with pytest.raises(DemoError, match="not on videos"):
        run_demo(str(tmp_path), video_input="x.mp4", config_file=config, levelset_view=1)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        run_demo(str(tmp_path), inputs=[str(tmp_path)], config_file=str(tmp_path / "nope.yaml"))


def test_inputs_sharing_a_stem_keep_every_output(tmp_path, tiny, one_thread):
    """x.png, x.jpg (and x.png of another folder) give three drawings, none overwritten."""
    config, weights = tiny
    rng = np.random.default_rng(1)
    inputs = [tmp_path / "in" / "x.png", tmp_path / "in" / "x.jpg", tmp_path / "other" / "x.png"]
    for i, path in enumerate(inputs):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((64, 64 + 16 * i, 3)) * 255).astype(np.uint8)).save(path)
    out = tmp_path / "out"
    run_demo(str(out), inputs=[str(p) for p in inputs], config_file=config, opts=["MODEL.WEIGHTS", weights])
    names = ["x.png.png", "x.jpg.png", "x.png_2.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name, width in zip(names, (64, 80, 96)):  # each drawing is of its own input
        assert np.asarray(Image.open(out / name)).shape[:2] == (64, width)
    assert output_names(["a/img.png", "b/other.jpg"]) == ["img", "other"]  # unique stems: unchanged


def test_demo_names_a_truncated_image_and_a_file_that_is_not_a_checkpoint(tmp_path, tiny):
    config, weights = tiny
    bad = tmp_path / "cut.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:600])
    with pytest.raises(OSError, match="cut.jpg"):
        run_demo(str(tmp_path / "out"), inputs=[str(bad)], config_file=config, opts=["MODEL.WEIGHTS", weights])
    with pytest.raises(ValueError) as info:
        run_demo(str(tmp_path / "out"), inputs=[str(bad)], config_file=config, opts=["MODEL.WEIGHTS", str(bad)])
    assert "cut.jpg is not a checkpoint" in str(info.value) and "weights_only" not in str(info.value)


def test_the_tool_runs_the_demo_and_reports_errors_in_one_line(tmp_path, tiny):
    """tools/demo.py run as a command: argument parsing plus run_demo."""
    config, weights = tiny
    (image,) = _images(tmp_path / "in", n=1)
    tool = [sys.executable, str(REPO_ROOT / "tools" / "demo.py"), "--config-file", config]
    proc = subprocess.run(tool + ["--input", image, "--output", str(tmp_path / "o.png"), "--opts", "MODEL.WEIGHTS",
                                  weights], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "o.png").is_file() and "instances in" in proc.stdout
    proc = subprocess.run(tool + ["--input", image, "--output", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("demo: no weights")
