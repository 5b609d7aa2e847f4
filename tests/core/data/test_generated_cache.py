"""levelset_core.data.cache: the one cache protocol of the generated datasets (marker last, lock, atomic files)."""
import json
import multiprocessing
import os

import pytest

from levelset_core.data.cache import ensure_generated, generating, is_generated, read_marker, write_atomic

PARAMS = {"version": 1, "num_images": 2}


def _generate_into(folder, calls):
    def generate():
        calls.append(1)
        for i in range(2):
            write_atomic(os.path.join(folder, f"{i}.txt"), b"x%d" % i)
    return generate


def test_generates_once_and_marker_is_written_last(tmp_path):
    marker, calls = str(tmp_path / "DONE.json"), []
    files = [str(tmp_path / "0.txt"), str(tmp_path / "1.txt")]
    assert ensure_generated(marker, PARAMS, _generate_into(str(tmp_path), calls), lock_file=str(tmp_path / ".lock"),
                            files=files) is True
    assert read_marker(marker) == PARAMS and is_generated(marker, PARAMS, files)
    assert ensure_generated(marker, PARAMS, _generate_into(str(tmp_path), calls), lock_file=str(tmp_path / ".lock"),
                            files=files) is False
    assert calls == [1]
    # other parameters or a missing file: generated again
    assert ensure_generated(marker, {**PARAMS, "version": 2}, _generate_into(str(tmp_path), calls),
                            lock_file=str(tmp_path / ".lock"), files=files)
    os.remove(files[1])
    assert ensure_generated(marker, {**PARAMS, "version": 2}, _generate_into(str(tmp_path), calls),
                            lock_file=str(tmp_path / ".lock"), files=files)
    assert calls == [1, 1, 1]


def test_an_interrupted_generation_does_not_look_complete(tmp_path):
    marker = str(tmp_path / "DONE.json")
    write_atomic(marker, json.dumps(PARAMS).encode())
    assert is_generated(marker, PARAMS)
    with pytest.raises(RuntimeError):
        with generating(marker, PARAMS):
            raise RuntimeError("interrupted")
    assert read_marker(marker) is None and not is_generated(marker, PARAMS)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def _worker(folder, queue):
    calls = []
    ensure_generated(os.path.join(folder, "DONE.json"), PARAMS, _generate_into(folder, calls),
                     lock_file=os.path.join(folder, ".lock"))
    queue.put(len(calls))


def test_concurrent_processes_generate_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(str(tmp_path), queue)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert sorted(queue.get(timeout=10) for _ in workers) == [0, 0, 1]
