"""tools/demo.py: images, a folder, a video; level-set pictures and sub-pixel polygons (tiny random model)."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import shared_dataset
from tiny_model import load_tool, save_tiny_model


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
    demo = load_tool("demo")
    rc = demo.main(["--config-file", config, "--input", str(tmp_path / "in"), "--output", str(out),
                    "--confidence-threshold", "0.0", "--levelset-view", "1",
                    "--contours-json", str(out / "polygons.json"), "--opts", "MODEL.WEIGHTS", weights])
    assert rc == 0
    for stem in ("img0", "img1"):
        drawn = np.asarray(Image.open(out / f"{stem}.png"))
        assert drawn.shape[:2] == ((96, 112) if stem == "img0" else (96, 128))
        assert len(list(out.glob(f"{stem}_levelset_inst*.png"))) == 1
    printed = capsys.readouterr().out
    assert "λ1=" in printed and "Δt_n=[" in printed  # the learned hyperparameters are printed
    records = json.loads((out / "polygons.json").read_text())
    assert records and {"image_id", "category_id", "bbox", "score", "segmentation", "file_name"} <= set(records[0])


def test_demo_on_a_video(tmp_path, tiny, one_thread):
    config, weights = tiny
    video = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 80))
    rng = np.random.default_rng(1)
    for _ in range(3):
        writer.write((rng.random((80, 96, 3)) * 255).astype(np.uint8))
    writer.release()
    out = tmp_path / "out.avi"
    demo = load_tool("demo")
    assert demo.main(["--config-file", config, "--video-input", video, "--output", str(out),
                      "--confidence-threshold", "0.0", "--opts", "MODEL.WEIGHTS", weights]) == 0
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 3


def test_demo_on_a_balloon_image(tmp_path, tiny, one_thread):
    balloon = shared_dataset("balloon")
    image = sorted((balloon / "val").glob("*.jpg"))[0]
    config, weights = tiny
    out = tmp_path / "b.png"
    demo = load_tool("demo")
    assert demo.main(["--config-file", config, "--input", str(image), "--output", str(out),
                      "--confidence-threshold", "0.0", "--levelset-view", "1",
                      "--opts", "MODEL.WEIGHTS", weights]) == 0
    assert Image.open(out).size == Image.open(image).size
    assert list(tmp_path.glob("b_levelset_inst*.png"))


def test_demo_errors_are_clear(tmp_path, tiny):
    config, weights = tiny
    demo = load_tool("demo")
    with pytest.raises(SystemExit, match="no such image"):
        demo.main(["--config-file", config, "--input", str(tmp_path / "missing*.png"), "--output", str(tmp_path),
                   "--opts", "MODEL.WEIGHTS", weights])
    with pytest.raises(SystemExit, match="MODEL.WEIGHTS"):
        demo.main(["--config-file", config, "--input", str(tmp_path), "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="not on videos"):
        demo.main(["--config-file", config, "--video-input", "x.mp4", "--output", str(tmp_path),
                   "--levelset-view", "1"])


def test_inputs_sharing_a_stem_keep_every_output(tmp_path, tiny, one_thread, capsys):
    """x.png, x.jpg (and x.png of another folder) give three drawings, none overwritten."""
    config, weights = tiny
    rng = np.random.default_rng(1)
    inputs = [tmp_path / "in" / "x.png", tmp_path / "in" / "x.jpg", tmp_path / "other" / "x.png"]
    for i, path in enumerate(inputs):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((64, 64 + 16 * i, 3)) * 255).astype(np.uint8)).save(path)
    out = tmp_path / "out"
    demo = load_tool("demo")
    assert demo.main(["--config-file", config, "--input", *map(str, inputs), "--output", str(out),
                      "--opts", "MODEL.WEIGHTS", weights]) == 0
    names = ["x.png.png", "x.jpg.png", "x.png_2.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name, width in zip(names, (64, 80, 96)):  # each drawing is of its own input
        assert np.asarray(Image.open(out / name)).shape[:2] == (64, width)
    assert demo.output_names(["a/img.png", "b/other.jpg"]) == ["img", "other"]  # unique stems: unchanged


def test_demo_names_a_truncated_image_and_a_file_that_is_not_a_checkpoint(tmp_path, tiny):
    config, weights = tiny
    demo = load_tool("demo")
    bad = tmp_path / "cut.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:600])
    with pytest.raises(OSError, match="cut.jpg"):
        demo.main(["--config-file", config, "--input", str(bad), "--output", str(tmp_path / "out"),
                   "--opts", "MODEL.WEIGHTS", weights])
    with pytest.raises(ValueError) as info:
        demo.main(["--config-file", config, "--input", str(bad), "--output", str(tmp_path / "out"),
                   "--opts", "MODEL.WEIGHTS", str(bad)])
    assert "cut.jpg is not a checkpoint" in str(info.value) and "weights_only" not in str(info.value)
