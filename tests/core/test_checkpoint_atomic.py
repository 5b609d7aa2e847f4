"""Checkpoints are written atomically: a process killed in the middle of ``torch.save`` leaves the last complete
checkpoint (and ``last_checkpoint`` naming it), and resuming loads it (``levelset_core.checkpoint.SafeCheckpointer``,
the checkpointer of both projects' trainers)."""
import os
import signal
import subprocess
import sys

import pytest
import torch
from repo_paths import REPO_ROOT

from levelset_core.checkpoint import SafeCheckpointer
from levelset_core.data.cache import atomic_open

# saves model_0000001 (weights 1) and model_final (weights 2), then is SIGKILLed halfway through writing argv[2]
# (weights 3)
KILLED_DURING_SAVE = r"""
import io, os, signal, sys
import torch
import levelset_core.compat
levelset_core.compat.install()
from levelset_core.checkpoint import SafeCheckpointer

out, name = sys.argv[1], sys.argv[2]
model = torch.nn.Linear(3, 2)
checkpointer = SafeCheckpointer(model, out)
for value, saved in ((1.0, "model_0000001"), (2.0, "model_final")):
    torch.nn.init.constant_(model.weight, value)
    checkpointer.save(saved)
real_save = torch.save


def save_and_die(obj, f, *args, **kwargs):
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    f.write(buffer.getvalue()[: buffer.tell() // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)


torch.save = save_and_die
torch.nn.init.constant_(model.weight, 3.0)
checkpointer.save(name)
"""


@pytest.mark.parametrize("name", ["model_final", "model_0000002"], ids=["overwrite", "new_file"])
def test_a_kill_during_a_save_leaves_the_last_complete_checkpoint(tmp_path, name):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_SAVE, str(tmp_path), name], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["last_checkpoint", "model_0000001.pth", "model_final.pth"]  # no truncated file
    model = torch.nn.Linear(3, 2)
    SafeCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)
    assert torch.all(model.weight == 2.0), "the last complete checkpoint was not the one loaded"


def test_atomic_open_keeps_the_old_file_on_an_error(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["file.bin"]
    with atomic_open(path, "w", sync=True) as f:
        f.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["file.bin"]
