"""Model zoo: configs and checkpoints of LevelSet R-CNN by name (see MODEL_ZOO.md).

Modules: :mod:`.model_zoo` (the API: configs, checkpoints, models by name), :mod:`.table` (the table, read from
``model_zoo.json``, and MODEL_ZOO.md's generated table), :mod:`.checkpoints` (cache, sha256, download),
:mod:`.release` (the release folder format), :mod:`.publish` (a training output folder -> a release folder),
:mod:`.install` (a fetched checkpoint -> the cache, sha256-checked) and :mod:`.verify` (a row's config against the
config saved with its checkpoint).
"""
from .checkpoints import CheckpointNotAvailableError, ChecksumMismatchError, cache_dir, sha256sum  # noqa: F401
from .model_zoo import (  # noqa: F401
    configs_root,
    entry_of,
    get,
    get_checkpoint_path,
    get_checkpoint_url,
    get_config,
    get_config_file,
    load_config,
)
from .install import install_checkpoint, installed_path  # noqa: F401
from .release import RELEASE_ENTRY_FILE  # noqa: F401
from .table import MODEL_ZOO, ModelZooEntry, list_models, register_model  # noqa: F401
from .verify import config_drift  # noqa: F401
