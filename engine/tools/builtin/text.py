"""``text.render``: render a text template with explicit variables."""

from typing import Annotated, Any

from pydantic import AfterValidator

from engine.errors import TemplateError
from engine.templating import TemplateEngine
from engine.tools.base import Tool
from engine.tools.function import tool


def make_text_tools(engine: TemplateEngine) -> list[Tool]:
    def _safe_template(source: str) -> str:
        try:
            bad = engine.unsafe_accesses(source)
            engine.compile(source)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:  # jinja2 syntax errors
            raise ValueError(f"template syntax error: {getattr(exc, 'message', exc)}") from None
        if bad:
            raise ValueError(
                f"template refers to '{bad[0]}': names starting with '_' are not allowed"
            )
        return source

    @tool("text.render", side_effect="none", template_params=("template",))
    def render(
        template: Annotated[str, AfterValidator(_safe_template)],
        variables: dict[str, Any] | None = None,
    ) -> str:
        """Render a Jinja2 text template (sandboxed) with the given variables.

        Args:
            template: Template text, e.g. "Deployed {{ service }} to {{ env }}". The engine
                passes it through unrendered; it sees only `variables`.
            variables: Values the template may use; these may be templates themselves.
        """
        compiled = engine.compile(template)
        result = compiled.render(dict(variables or {}))
        return result if isinstance(result, str) else str(result)

    return [render]
