"""Typed, strict run configuration: YAML plus dotted overrides, and a canonical hash.

Unknown keys and wrong types are errors that name the key and the file. The resolved
config (defaults filled in, overrides applied) is what a run records and hashes.

>>> cfg = load_config_dict({"dataset": {"name": "london"}}, source="<dict>")
>>> cfg.matcher.name
'dlib'
"""

from fairbench.config.load import apply_override, load_config, load_config_dict
from fairbench.config.model import MODE_SECTIONS, Config, config_hash
from fairbench.config.sections import (
    DEFAULT_AGE_BANDS,
    AcquisitionConfig,
    BootstrapConfig,
    CacheConfig,
    CaptureConfig,
    DatasetConfig,
    ExecutorConfig,
    GalleryConfig,
    IdentificationConfig,
    LivenessConfig,
    MakeupConfig,
    MatcherConfig,
    SimSpec,
    SkinToneConfig,
    VerificationConfig,
)

__all__ = ["DEFAULT_AGE_BANDS", "MODE_SECTIONS", "AcquisitionConfig", "BootstrapConfig",
           "CacheConfig", "CaptureConfig", "Config", "DatasetConfig", "ExecutorConfig",
           "GalleryConfig", "IdentificationConfig", "LivenessConfig", "MakeupConfig",
           "MatcherConfig", "SimSpec", "SkinToneConfig", "VerificationConfig",
           "apply_override", "config_hash", "load_config", "load_config_dict"]
