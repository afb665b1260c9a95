"""The model families ginr knows: every ``GeneralizableINR`` subclass that names a ``family``.

A family registers itself when its class is defined (``GeneralizableINR.__init_subclass__``), so
the built-in ones are known as soon as ``ginr_core`` is imported. Families from other packages
plug in through the ``ginr.families`` entry-point group, e.g. in that package's ``pyproject.toml``::

    [project.entry-points."ginr.families"]
    mean-film = "my_package.models:MeanFiLMINR"

Entry points are loaded the first time a family is looked up by name (``get_model_class``,
``list_families``, ``GeneralizableINR.from_pretrained``): from then on the apps train, evaluate,
publish and load that family like the built-in ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import GeneralizableINR

__all__ = ["ENTRY_POINT_GROUP", "get_model_class", "list_families", "load_plugins", "register_family"]

ENTRY_POINT_GROUP = "ginr.families"

_FAMILIES: dict[str, type[GeneralizableINR]] = {}
_entry_points_loaded = False


def register_family(cls: type[GeneralizableINR]) -> type[GeneralizableINR]:
    """Add ``cls`` under ``cls.family``. Called for every subclass that sets ``family``; a class
    redefined under the same module and name (a reloaded module) replaces the old one."""
    name = cls.family
    if not isinstance(name, str) or not name or name != name.strip() or "/" in name:
        raise ValueError(f"{cls.__qualname__}.family must be a non-empty name without '/', got {name!r}")
    held = _FAMILIES.get(name)
    if held is not None and (held.__module__, held.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"model family {name!r} is already registered by {held.__module__}.{held.__qualname__}; "
            f"{cls.__module__}.{cls.__qualname__} needs another family name"
        )
    _FAMILIES[name] = cls
    return cls


def load_plugins(group: str, what: str, problem: Callable[[str, Any], str | None]) -> list[Any]:
    """The objects of the ``group`` entry points that load and pass ``problem(name, obj)`` (None: fine; else why
    not, warned and ignored). A broken plug-in warns and never breaks what is built in. Used for the
    ``ginr.families`` here and by the apps for their ``ginr.tasks``."""
    loaded = []
    for point in entry_points(group=group):
        try:
            obj = point.load()
        except Exception as error:  # a broken plug-in must not break the built-in ones
            warnings.warn(f"ginr: cannot load {what} {point.name!r} ({point.value}): {error}", stacklevel=3)
            continue
        why = problem(point.name, obj)
        if why:
            warnings.warn(f"ginr: entry point {point.name!r} ({point.value}) {why}; ignored", stacklevel=3)
            continue
        loaded.append(obj)
    return loaded


def _family_problem(name: str, cls: Any) -> str | None:
    family = getattr(cls, "family", None)
    if family != name:
        return f"is not a GeneralizableINR subclass with family = {name!r} (got family={family!r})"
    return None


def _load_entry_points() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_plugins(ENTRY_POINT_GROUP, "model family", _family_problem)  # loading a family registers it


def list_families() -> dict[str, type[GeneralizableINR]]:
    """``{family name: model class}`` of every registered family, built-in and plug-in, by name."""
    _load_entry_points()
    return dict(sorted(_FAMILIES.items()))


def get_model_class(family: str) -> type[GeneralizableINR]:
    """A registered family's name (built-in or plug-in) -> its model class."""
    families = list_families()
    try:
        return families[family]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(families)}") from None


def class_by_name(name: str) -> type[GeneralizableINR] | None:
    """The registered class called ``name`` (``config.json``'s ``_class_name``), or None."""
    return next((cls for cls in list_families().values() if cls.__name__ == name), None)
