"""The tasks, one family per module or folder (docs/development.md "Adding a task"): :mod:`.base` (what they share),
:mod:`.entries`, :mod:`.super_resolve`, :mod:`.shapes`, :mod:`.views`. Importing the package imports every family, so
that :meth:`.base.Field.families` sees each field task (another task refuses their data by it)."""
from inr_recover.tasks import base, entries, super_resolve  # noqa: F401
from inr_recover.tasks.shapes import task as _shapes  # noqa: F401
from inr_recover.tasks.views import task as _views  # noqa: F401

_MOVED = {"Task": entries.Recovery, "SuperResolve": super_resolve.SuperResolve, "Shape": _shapes.ShapeField,
          "ViewSynthesis": _views.ViewSynthesis}  # 0.3's inr_recover.tasks.<class>, for one release


def __getattr__(name: str):
    if name in _MOVED:
        import warnings

        new = f"{_MOVED[name].__module__}.{_MOVED[name].__name__}"
        warnings.warn(f"inr_recover.tasks.{name} moved to {new}; the old path goes in the next release", FutureWarning,
                      stacklevel=2)
        return _MOVED[name]
    raise AttributeError(f"module 'inr_recover.tasks' has no attribute '{name}'")
