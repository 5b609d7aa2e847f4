"""Model zoo: configs and checkpoints of LevelSet R-CNN by name (see MODEL_ZOO.md)."""
from .model_zoo import (  # noqa: F401
    MODEL_ZOO,
    RELEASE_ENTRY_FILE,
    CheckpointNotAvailableError,
    ChecksumMismatchError,
    ModelZooEntry,
    cache_dir,
    configs_root,
    entry_of,
    get,
    get_checkpoint_path,
    get_checkpoint_url,
    get_config,
    get_config_file,
    list_models,
    register_model,
    sha256sum,
)
