"""Tests of the DeepLabLosses project (a package, so that its conftest does not shadow /work/main/tests/conftest.py)."""
