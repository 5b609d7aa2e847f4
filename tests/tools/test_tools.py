"""Every command-line tool in tools/ is argument parsing plus calls into the package: run as a command, each parses
``--help`` and is short (the logic and its tests live in the package; see tests/model_zoo, tests/evaluation,
tests/utils)."""
import subprocess
import sys

import pytest
from repo_paths import REPO_ROOT

TOOLS = sorted(p.name for p in (REPO_ROOT / "tools").glob("*.py"))


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_parses_help_and_stays_thin(tool):
    path = REPO_ROOT / "tools" / tool
    proc = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage:" in proc.stdout
    assert len(path.read_text().splitlines()) <= 80, f"{tool}: move the logic into the package"
