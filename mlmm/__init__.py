"""mlmm: multilingual multimodal pretraining on WebDataset shards under DeepSpeed."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy so that `import mlmm` (CLI start-up, config loading) does not import torch/open_clip/transformers.
    # `mlmm.load` is the (callable) submodule mlmm/load.py; see its docstring.
    if name == "load":
        import importlib

        return importlib.import_module("mlmm.load")
    raise AttributeError(f"module 'mlmm' has no attribute {name!r}")
