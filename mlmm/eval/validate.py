"""Input checks shared by the metric functions: every failure is a ``ValueError`` naming the argument.

Metric functions accept numpy arrays, torch tensors or nested lists; these helpers turn them into numpy
arrays of a known rank and dtype, or say exactly what is wrong (shape, length, NaN, empty reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def to_numpy(value: Any, name: str) -> np.ndarray:
    """``value`` (ndarray | torch.Tensor | nested list) -> ndarray; torch tensors are detached and moved to CPU."""
    if value is None:
        raise ValueError(f"{name} is required but was None")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch here
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None


def float_matrix(value: Any, name: str, dtype: type = np.float32) -> np.ndarray:
    """A finite 2-D float array ``[N, D]`` with N >= 1; NaN/inf or a wrong rank raise ``ValueError``."""
    arr = to_numpy(value, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [N, D], got shape {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: empty array of shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name}: contains NaN or inf (first in row {row})")
    return arr


def index_vector(value: Any, name: str, length: int | None = None, upper: int | None = None) -> np.ndarray:
    """A 1-D int64 array of indices in ``[0, upper)``; ``length`` (if given) must match."""
    arr = to_numpy(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D index array, got shape {tuple(arr.shape)}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name}: expected integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}: length {arr.shape[0]} does not match the {length} rows it indexes into")
    if upper is not None and arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise ValueError(f"{name}: indices must lie in [0, {upper}), got min {arr.min()} max {arr.max()}")
    return arr


def same_length(name_a: str, a: Sequence, name_b: str, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} items but {name_b} has {len(b)}")


def string_list(value: Any, name: str) -> list[str]:
    """A non-empty list of str (a single str is an error, to catch ``predictions="a caption"``)."""
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise ValueError(f"{name}: expected a list of strings, got {type(value).__name__}")
    out = list(value)
    if not out:
        raise ValueError(f"{name}: is empty")
    for i, item in enumerate(out):
        if not isinstance(item, str):
            raise ValueError(f"{name}[{i}]: expected str, got {type(item).__name__}")
    return out


def reference_lists(value: Any, name: str, exact: int | None = None) -> list[list[str]]:
    """A list of non-empty lists of str (one list of references per prediction)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name}: expected a list of lists of strings, got {type(value).__name__}")
    out: list[list[str]] = []
    for i, refs in enumerate(value):
        if isinstance(refs, str) or not isinstance(refs, Sequence | np.ndarray):
            raise ValueError(f"{name}[{i}]: expected a list of strings, got {type(refs).__name__}")
        refs = list(refs)
        if not refs:
            raise ValueError(f"{name}[{i}]: empty reference list")
        if exact is not None and len(refs) != exact:
            raise ValueError(f"{name}[{i}]: expected exactly {exact} answers, got {len(refs)}")
        for j, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise ValueError(f"{name}[{i}][{j}]: expected str, got {type(ref).__name__}")
        out.append(refs)
    if not out:
        raise ValueError(f"{name}: is empty")
    return out
