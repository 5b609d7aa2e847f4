"""Installing detectron2 (:mod:`levelset_core.compat.detectron2_installer`, behind ``tools/install_detectron2.py``) offline, and
``.ci/run``'s check of the vendored detectron2 source."""
import os
import subprocess
import sys

import pytest

from levelset_core.compat import detectron2_installer as install_module
from repo_paths import REPO_ROOT


# --------------------------------------------------------------------------------------------------------
# levelset_core.compat.detectron2_installer (no network: pip and the sdist download are never run)
# --------------------------------------------------------------------------------------------------------
@pytest.fixture
def installer(monkeypatch):
    module = install_module
    calls = []

    def fake_pip(*args):
        calls.append(args)

    def no_download(*args, **kwargs):  # pragma: no cover - would download
        raise AssertionError("build_fallback_tree / install_fallback must not run in tests (network)")

    monkeypatch.setattr(module, "pip", fake_pip)
    monkeypatch.setattr(module, "build_fallback_tree", no_download)
    monkeypatch.setattr(module, "install_fallback", no_download)
    module.pip_calls = calls
    return module


def _exit_message(excinfo):
    code = excinfo.value.code
    return code if isinstance(code, str) else str(code)


def test_install_source_nonexistent_path_exits_naming_it(installer):
    with pytest.raises(SystemExit) as info:
        installer.main(["--source", "/nonexistent"])
    assert "/nonexistent" in _exit_message(info)
    assert installer.pip_calls == []


def test_install_source_folder_without_setup_py_exits_naming_it(installer, tmp_path):
    folder = tmp_path / "not_detectron2"
    folder.mkdir()
    with pytest.raises(SystemExit) as info:
        installer.main(["--source", str(folder)])
    message = _exit_message(info)
    assert str(folder) in message and "setup.py" in message
    assert installer.pip_calls == []


def test_install_from_source_targets(installer, tmp_path):
    checkout = tmp_path / "detectron2"
    checkout.mkdir()
    (checkout / "setup.py").write_text("# stand-in\n")
    archive = tmp_path / "detectron2-main-02b5c4e.tar.gz"
    archive.write_bytes(b"")
    installer.install_from_source(str(checkout))
    installer.install_from_source(str(archive))
    installer.install_from_source("https://github.com/facebookresearch/detectron2.git")
    installer.install_from_source("git+https://example.org/detectron2.git")
    assert installer.pip_calls == [
        ("install", "--no-build-isolation", str(checkout.resolve())),
        ("install", "--no-build-isolation", str(archive.resolve())),
        ("install", "--no-build-isolation", "git+https://github.com/facebookresearch/detectron2.git"),
        ("install", "--no-build-isolation", "git+https://example.org/detectron2.git"),
    ]


def test_install_keeps_existing_detectron2(installer, capsys):
    # detectron2 is importable here: without --force / --source nothing is installed
    assert installer.main([]) == 0
    assert installer.pip_calls == []
    assert "keeping" in capsys.readouterr().out


def test_install_tool_is_a_bootstrap_that_runs_before_the_package_is_installed(tmp_path):
    """tools/install_detectron2.py finds levelset_core in its checkout (no installed package needed) and imports
    nothing but the standard library before it parses its arguments."""
    code = (
        "import runpy, sys; sys.argv = ['install_detectron2.py', '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(REPO_ROOT / 'tools' / 'install_detectron2.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'detectron2', 'numpy', 'levelset_rcnn') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "--source" in proc.stdout and "pb1-detectron2" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert len((REPO_ROOT / "tools" / "install_detectron2.py").read_text().splitlines()) < 80


# --------------------------------------------------------------------------------------------------------
# .ci/run: the official-main leg needs the vendored detectron2 source
# --------------------------------------------------------------------------------------------------------
def test_ci_fails_clearly_without_the_detectron2_main_tarball(tmp_path):
    """A missing tarball is a CI failure naming the file, before any leg starts (not a silent skip)."""
    import signal

    missing = tmp_path / "detectron2-main-02b5c4e.tar.gz"
    proc = subprocess.Popen(["bash", str(REPO_ROOT / ".ci" / "run")], env={**os.environ, "D2_MAIN_TARBALL": str(missing)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:  # should .ci/run ever go on to run the suite, stop it and everything it started
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode not in (0, None), out
    assert str(missing) in err and "missing" in err
    assert "leg" not in out  # no leg started
