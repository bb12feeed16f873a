"""``data.transform``: reshape JSON data with a JMESPath expression."""

from typing import Annotated, Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import AfterValidator

from engine.errors import PermanentToolError
from engine.tools.base import Tool
from engine.tools.function import tool


def _compiles(expression: str) -> str:
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath expression {expression!r}: {exc}") from None
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
