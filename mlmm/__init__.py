"""mlmm: multilingual multimodal pretraining on WebDataset shards under DeepSpeed."""

__version__ = "0.1.0"
