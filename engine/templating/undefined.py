"""Undefined values that explain themselves: any use raises an error naming what is missing."""

from __future__ import annotations

from typing import Any, NoReturn

from jinja2 import Undefined
from jinja2.exceptions import SecurityError

from engine.errors import TemplateUndefinedError, UnsafeTemplateError, UpstreamOutputMissingError


class KaizenUndefined(Undefined):
    """Like ``StrictUndefined``: any use raises, with a message naming what is missing."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is SecurityError:
            raise UnsafeTemplateError(f"template refused: {self._undefined_message}")
        raise TemplateUndefinedError(self._undefined_message)


class NotProduced(KaizenUndefined):
    """The output of a step that did not succeed. Using it raises UpstreamOutputMissingError;
    ``| default(...)`` and ``is defined`` work, which is how merges after optional branches
    are written. Like ``ChainableUndefined``, ``.key`` and ``[key]`` on it stay undefined, so
    ``steps.b.output.value | default('none')`` works too."""

    __slots__ = ("_status", "_step_id")

    def __init__(self, step_id: str, status: str) -> None:
        super().__init__(hint=f"step '{step_id}' produced no output ({status})")
        self._step_id = step_id
        self._status = status

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UpstreamOutputMissingError(self._step_id, self._status)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


# Undefined's operators (``__add__``, ``__iter__``, …) are bound to the base class's failure
# function; rebind them so every use of our undefined values raises *our* errors.
_STRICT_OPERATORS: tuple[str, ...] = ("__iter__", "__str__", "__len__", "__eq__", "__ne__")
_STRICT_OPERATORS += ("__bool__", "__hash__", "__contains__", "__repr__", "__round__", "__int__")
_STRICT_OPERATORS += ("__float__", "__complex__", "__index__", "__trunc__", "__floor__", "__ceil__")
_STRICT_OPERATORS += ("__abs__", "__neg__", "__pos__", "__invert__", "__format__", "__reversed__")
for _cls in (KaizenUndefined, NotProduced):
    _own = set(vars(_cls))  # methods the class defines itself (NotProduced.__getitem__) stay
    _failing = {
        name
        for name, value in vars(Undefined).items()
        if value is vars(Undefined)["_fail_with_undefined_error"] and name.startswith("__")
    }
    for _name in (_failing | set(_STRICT_OPERATORS)) - _own:
        setattr(_cls, _name, _cls._fail_with_undefined_error)
