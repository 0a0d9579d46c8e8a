"""Whether the Hugging Face hub may be contacted (read at call time, not at import)."""

from __future__ import annotations

import os


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now, or was set when huggingface_hub was imported."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False
