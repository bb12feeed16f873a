"""Templates in step params, conditions and outputs, rendered in Jinja2's sandbox.

Rules:

* A string that is exactly one expression, ``"{{ steps.a.output.count }}"``, evaluates to the
  expression's value with its type (an int stays an int, a list stays a list).
* Any other string containing ``{{``/``{%`` renders to a string.
* Everything else (numbers, strings without template syntax, …) passes through unchanged; dicts
  and lists are rendered element by element.
* A reference to something that does not exist raises :class:`TemplateUndefinedError` naming the
  missing key and where it was looked up — never an empty string.
* Templates cannot reach Python internals or exhaust the machine: see :mod:`.sandbox` and
  :mod:`.limits`.

Modules: :mod:`.compiler` (the engine), :mod:`.compiled` (compiled values), :mod:`.sandbox`
(the Jinja2 environment), :mod:`.limits` (resource limits), :mod:`.undefined` (explanatory
undefined values), :mod:`.views` (``steps`` as templates see it), :mod:`.references` (static
analysis).
"""

from engine.templating.compiled import Compiled
from engine.templating.compiler import TemplateEngine, default_engine
from engine.templating.limits import (
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_RANGE_ITEMS,
    MAX_SEQUENCE_PRODUCT,
    MAX_WIDTH,
)
from engine.templating.references import (
    Reference,
    is_template,
    iter_template_strings,
    unsafe_accesses,
)
from engine.templating.sandbox import KaizenSandbox
from engine.templating.undefined import NotProduced
from engine.templating.views import STEP_VIEW_FIELDS, StepsView, StepView

__all__ = [
    "MAX_INT_BITS",
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT_CHARS",
    "MAX_RANGE_ITEMS",
    "MAX_SEQUENCE_PRODUCT",
    "MAX_WIDTH",
    "STEP_VIEW_FIELDS",
    "Compiled",
    "KaizenSandbox",
    "NotProduced",
    "Reference",
    "StepView",
    "StepsView",
    "TemplateEngine",
    "default_engine",
    "is_template",
    "iter_template_strings",
    "unsafe_accesses",
]
