"""inr-recover: recover multi-dimensional data with implicit neural representations.

The package is laid out by concern (docs/development.md "Layout"). The modules that sat at its top level up to 0.3
moved into packages; their old import paths (``inr_recover.fit``, ``inr_recover.shapes.load_mesh`` in a config's
``_target_``) still import for one release, with a :class:`FutureWarning` naming the new path (:data:`MOVED`).
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

MOVED = {  # old module (0.3) -> where it lives now
    "summary": "cli.summary", "bench": "cli.bench",  # inr_recover.cli is now the package (python -m works as before)
    "schema": "config.schema", "validate": "config.validate", "protocol": "config.protocol", "paths": "config.paths",
    "experiment": "run.experiment", "provenance": "run.provenance", "checkpoint": "run.checkpoint",
    "locks": "run.locks", "outputs": "run.outputs", "loggers": "run.loggers", "files": "run.files",
    "fit": "engine.fit", "batched": "engine.batched", "optim": "engine.optim", "select": "engine.select",
    "memory": "engine.memory", "runtime": "engine.runtime",
    "observation": "measure.observation", "degrade": "measure.degrade", "domain": "measure.domain",
    "grid": "measure.grid", "metrics": "measure.metrics",
    "evaluation": "tasks.base", "shapes": "tasks.shapes.mesh", "views": "tasks.views.scene",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``inr_recover.<old>`` as the module it moved to (:data:`MOVED`), warning once per name."""

    def find_spec(self, name, path=None, target=None):
        old = name.removeprefix(__name__ + ".")
        return importlib.util.spec_from_loader(name, self) if old != name and old in MOVED else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        new = f"{__name__}.{MOVED[module.__name__.removeprefix(__name__ + '.')]}"
        warnings.warn(f"{module.__name__} moved to {new}; the old path goes in the next release", FutureWarning,
                      stacklevel=2)
        sys.modules[module.__name__] = importlib.import_module(new)  # the import statement returns this module


sys.meta_path.insert(0, _Moved())  # before an editable install's finder, which maps the package's folder
