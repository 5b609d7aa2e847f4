"""Paths of the repository for the tests (a plain module: tests import it, never ``conftest``)."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
