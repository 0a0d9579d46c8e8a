"""``mlmm.load(path)``: an exported model as an inference encoder (see :func:`mlmm.models.export.load`).

Three lines in a notebook::

    import mlmm
    enc = mlmm.load("runs/quickstart/mclip/export")
    enc.encode_text(["ein roter Würfel"], lang="de") @ enc.encode_image([image]).T

Python's import system binds the *submodule* ``mlmm.load`` as the package attribute ``load`` whenever
``mlmm/load.py`` is imported, which would shadow the function; the module is therefore made callable, so
``mlmm.load(path)`` works however it was first imported.
"""

import sys
import types

from mlmm.models.export import load


class _CallableModule(types.ModuleType):
    def __call__(self, path, device="cpu"):
        return load(path, device=device)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["load"]
