"""Data pieces shared by both projects; importing them registers no dataset.

* :mod:`.shapes`: rendering of the generated "shapes" images (textured rings, blobs, pairs, wrenches);
* :mod:`.cache`: the locked, atomic on-disk cache of generated datasets (one protocol for both projects);
* :mod:`.roots`: where real datasets are looked for (``$DETECTRON2_DATASETS``, ``../shared/datasets``);
* :mod:`.mapper`: the dataset mapper of both trainers (float coordinates, read errors that name the file; import it
  after :func:`levelset_core.compat.install`).
* :mod:`.loader`: the training data loader of both trainers, resumable exactly with any number of workers and
  processes (import it after :func:`levelset_core.compat.install`).
"""
