"""Declared limits of configuration values, and the check of a value or a ``_target_`` node against them.

An option is declared by the type annotation of the parameter that receives it, where its class or function is
defined; nothing else needs to change for it to be checked before a run starts (:mod:`inr_recover.config.validate`)::

    rate: Rate                                   # Annotated[float, Interval(0, 1)]: a finite number in [0, 1]
    every: Annotated[int, Interval(0)]           # an integer >= 0
    sigma: Annotated[float, Interval(0, open_lo=True)]   # a finite number > 0
    loss: Literal[LOSSES]                        # one of the names in the tuple LOSSES
    crop: list[int] | None                       # null or a list of integers

Plain ``int``, ``float``, ``bool``, ``str``, ``list[...]``, ``tuple[...]``, ``X | None`` and ``Literal`` are checked as
such (an ``int`` is not a ``bool`` or a ``float``; a ``float`` is finite); ``Satisfies(fn)`` runs ``fn(value)``,
which raises a :class:`UserError` itself. Types this module does not know (arrays, callables, classes) pass.
A function taking ``**kwargs`` that it hands on to other callables declares them with :func:`forwards`.
"""
from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Annotated, Any, Literal, Union

from inr_recover.errors import UserError

HYDRA_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


@dataclass(frozen=True)
class Interval:
    """The numbers between ``lo`` and ``hi`` (None: unbounded), each end closed unless ``open_lo`` / ``open_hi``."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False

    def ok(self, v) -> bool:
        above = self.lo is None or (v > self.lo if self.open_lo else v >= self.lo)
        below = self.hi is None or (v < self.hi if self.open_hi else v <= self.hi)
        return above and below

    def describe(self) -> str:
        if self.hi is None:
            return f"{'>' if self.open_lo else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.open_hi else '<='} {self.hi:g}"
        return f"in {'(' if self.open_lo else '['}{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"


@dataclass(frozen=True)
class Satisfies:
    """A value accepted by ``fn`` (which raises a :class:`UserError` naming the problem otherwise)."""

    fn: typing.Callable

    def ok(self, v) -> bool:
        self.fn(v)
        return True

    def describe(self) -> str:
        return ""


PositiveInt = Annotated[int, Interval(1)]
NonNegativeInt = Annotated[int, Interval(0)]
Positive = Annotated[float, Interval(0, open_lo=True)]
NonNegative = Annotated[float, Interval(0)]
Rate = Annotated[float, Interval(0, 1)]


def forwards(*targets):
    """Declare the callables a function's ``**kwargs`` are handed to: their parameters are its options."""

    def mark(fn):
        fn.__forwards__ = targets
        return fn

    return mark


def _origin(hint):
    return typing.get_origin(hint)


def describe(hint) -> str:
    """The accepted values of ``hint`` in words."""
    origin, args = _origin(hint), typing.get_args(hint)
    if origin is Annotated:
        base, limits = args[0], [m.describe() for m in args[1:] if hasattr(m, "describe") and m.describe()]
        return " ".join([describe(base), *limits])
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(_fmt(a) for a in args)
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
        return f"a list of {describe(args[0])}s" if args else "a list"
    if is_dataclass(hint):
        return "a mapping of " + ", ".join(f.name for f in fields(hint))
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string", type(None): "null",
            dict: "a mapping"}.get(hint, getattr(hint, "__name__", str(hint)))


def _fmt(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    return repr(v) if isinstance(v, str) else str(v)


def _fail(key: str, value, hint):
    raise UserError(f"{key}={_fmt(value)} is not {describe(hint)}")


def check(key: str, value, hint) -> None:
    """Raise a :class:`UserError` naming ``key``, ``value`` and the accepted values unless ``value`` fits ``hint``."""
    origin, args = _origin(hint), typing.get_args(hint)
    if origin is Annotated:
        try:
            check(key, value, args[0])
        except UserError:
            _fail(key, value, hint)
        for limit in args[1:]:
            if hasattr(limit, "ok") and not limit.ok(value):
                _fail(key, value, hint)
    elif origin in (Union, types.UnionType):
        for alternative in args:
            try:
                return check(key, value, alternative)
            except UserError:
                pass
        _fail(key, value, hint)
    elif origin is Literal:
        if not any(type(value) is type(a) and value == a for a in args):
            _fail(key, value, hint)
    elif origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            _fail(key, value, hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                _fail(key, value, hint)
            for i, (v, a) in enumerate(zip(value, args)):
                check(f"{key}.{i}", v, a)
        elif args:
            for i, v in enumerate(value):
                check(f"{key}.{i}", v, args[0])
    elif is_dataclass(hint):
        if not isinstance(value, dict):
            _fail(key, value, hint)
        hints = typing.get_type_hints(hint, include_extras=True)
        for f in fields(hint):
            if f.name in value:
                check(f"{key}.{f.name}" if key else f.name, value[f.name], hints[f.name])
    elif hint is bool:
        if not isinstance(value, bool):
            _fail(key, value, hint)
    elif hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(key, value, hint)
    elif hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            _fail(key, value, hint)
    elif hint is str:
        if not isinstance(value, str):
            _fail(key, value, hint)
    elif hint is type(None):
        if value is not None:
            _fail(key, value, hint)
    elif hint is dict:
        if not isinstance(value, dict):
            _fail(key, value, hint)
    else:
        check_finite(key, value)  # a type not declared here (arrays, callables, classes): numbers must still be finite


def check_finite(key: str, value) -> None:
    """Every number in ``value`` (nested lists and mappings) is finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{key}={value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(f"{key}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(f"{key}.{i}", v)


def _hints(fn) -> dict:
    out = {}
    for obj in (fn, getattr(fn, "__init__", None)) if inspect.isclass(fn) else (fn,):
        try:
            out.update(typing.get_type_hints(obj, include_extras=True))
        except Exception:  # unresolvable annotations (a third party's forward references): those go unchecked
            pass
    return out


def options(target) -> tuple[dict, bool]:
    """``({parameter: type hint}, takes_any_keyword)`` of a callable, its ``**kwargs`` expanded into the parameters
    of the callables it :func:`forwards` them to."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}, True
    hints = _hints(target)
    out = {n: hints.get(n, Any) for n, p in params.items()
           if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self"}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if open_ended and hasattr(target, "__forwards__"):
        open_ended = False
        for other in target.__forwards__:
            more, anything = options(other)
            open_ended |= anything
            out = {**more, **out}
    return out, open_ended


def locate(key: str, path: str):
    """The class or function a ``_target_`` names."""
    from hydra.utils import get_object

    try:
        return get_object(path)
    except Exception as e:
        raise UserError(f"{key}._target_='{path}' cannot be imported ({str(e).splitlines()[0]})") from None


def check_node(key: str, node: dict, extra: dict | None = None, ignore=(), given=()) -> None:
    """Check a config node that names a ``_target_``: every key is a parameter of the target (or of ``extra``,
    {key: hint} read by the caller), every value fits its parameter's annotation; nested ``_target_`` nodes are
    checked in turn. ``ignore``: keys the caller removes before instantiating; ``given``: parameters the caller
    passes itself (not offered in the error)."""
    target = locate(key, node["_target_"])
    params, open_ended = options(target)
    params = {**params, **(extra or {})}
    for name, value in node.items():
        if name in HYDRA_KEYS or name in ignore:
            continue
        where = f"{key}.{name}"
        if isinstance(value, dict) and "_target_" in value and value["_target_"] is not None:
            check_node(where, value)
        elif name in params:
            check(where, value, params[name])
        elif open_ended:
            check_finite(where, value)
        else:
            accepted = sorted(n for n in params if n not in given)
            raise UserError(f"{where} is not an option of {node['_target_']} (its options: {', '.join(accepted)})")
