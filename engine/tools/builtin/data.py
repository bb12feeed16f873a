"""``data.transform``: reshape JSON data with a JMESPath expression."""

from collections.abc import Iterator
from typing import Annotated, Any

import jmespath
from jmespath import functions
from jmespath.exceptions import JMESPathError
from pydantic import AfterValidator

from engine.errors import PermanentToolError
from engine.problems import did_you_mean
from engine.tools.base import Tool
from engine.tools.function import tool

#: Functions JMESPath knows (``jmespath.search`` only finds unknown ones while evaluating).
KNOWN_FUNCTIONS: frozenset[str] = frozenset(functions.Functions.FUNCTION_TABLE)


def _function_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            yield str(node.get("value"))
        for child in node.get("children", ()):
            yield from _function_names(child)


def _compiles(expression: str) -> str:
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath expression {expression!r}: {exc}") from None
    for name in _function_names(parsed.parsed):
        if name not in KNOWN_FUNCTIONS:
            hint = did_you_mean(name, sorted(KNOWN_FUNCTIONS))
            raise ValueError(
                f"invalid JMESPath expression {expression!r}: unknown function '{name}()'"
                + (f" ({hint})" if hint else "")
            )
    return expression


JMESPathExpression = Annotated[str, AfterValidator(_compiles)]


def make_data_tools() -> list[Tool]:
    @tool("data.transform", side_effect="none")
    def transform(data: Any, expression: JMESPathExpression) -> Any:
        """Select and reshape JSON data with a JMESPath expression.

        Args:
            data: The JSON value to query (usually another step's output).
            expression: A JMESPath expression, e.g. "items[?state=='open'].title".
        """
        try:
            return jmespath.search(expression, data)
        except JMESPathError as exc:
            raise PermanentToolError(f"JMESPath evaluation failed: {exc}") from exc

    return [transform]
