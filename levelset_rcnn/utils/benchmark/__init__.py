"""The side-by-side benchmark of LevelSet R-CNN and Mask R-CNN and of the Chan-Vese module alone
(``benchmarks/benchmark.py``; protocol and numbers in docs/BENCHMARKS.md).

Modules: :mod:`.timing` (device-synchronised, interleaved timing), :mod:`.models` (the two models with the same
initialisation, synthetic inputs; inference, per-module, training and TSDF-target timings), :mod:`.memory` (peak
training memory, one fresh process per model), :mod:`.chan_vese` (the fast Chan-Vese module against a reference
implementation), :mod:`.load` (CPU model, load average around each part, the quiet-machine verdict),
:mod:`.report` (the Markdown table) and :mod:`.run` (the options and :func:`~.run.run_benchmark`).
Nothing is imported here, so that ``python -m levelset_rcnn.utils.benchmark.memory`` (the memory worker) runs
without importing itself twice.
"""
