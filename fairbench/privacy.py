"""Switch off the telemetry of fairbench's dependencies before any of them is imported.

Images, embeddings and scores never leave the machine, and neither does anything about the
machine. ONNX Runtime records a device id, the OS, the CPU and error texts under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` and looks up a telemetry host unless
``ORT_DISABLE_TELEMETRY`` is set (its API switch alone does not stop that), so the variable
is set here, at the first import of any fairbench module; :func:`fairbench.onnxrt.open_session`
also calls the API switch. Hub downloaders that some dependencies carry are told to stay
offline, and Ray (the optional cluster executor) sends no usage statistics (a private
cluster it starts inherits the setting). A user's explicit setting of any of these
variables is kept.
"""

from __future__ import annotations

import os

#: Environment switches set (unless already set) before dependencies load.
SWITCHES = {
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime: no telemetry file, no telemetry look-ups
    "HF_HUB_OFFLINE": "1",  # huggingface_hub (pulled in by some model packs): no downloads
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",  # the common opt-out that several libraries honour
    "RAY_USAGE_STATS_ENABLED": "0",  # ray (executor: ray): no usage report to its servers
}


def quiet_dependencies() -> None:
    """Set every switch of :data:`SWITCHES` that the user has not set."""
    for k, v in SWITCHES.items():
        os.environ.setdefault(k, v)
