"""Turn a typed Python function into a tool: ``@tool`` and :class:`FunctionTool`."""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, get_origin, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from engine.errors import ToolDefinitionError, ToolInputError
from engine.problems import did_you_mean
from engine.tools.base import (
    TOOL_NAME_PATTERN,
    CostModel,
    ParamIssue,
    RiskLevel,
    SideEffect,
    Tool,
    ToolContext,
    ToolSpec,
)

ToolFunction = Callable[..., Any]


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {param: description})."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    sections = re.split(
        r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Example[s]?):\s*$",
        text,
        flags=re.MULTILINE,
    )
    description = " ".join(sections[0].strip().split("\n\n")[0].split())
    params: dict[str, str] = {}
    for header, body in zip(sections[1::2], sections[2::2], strict=False):
        if header not in ("Args", "Arguments", "Parameters"):
            continue
        current: str | None = None
        for line in body.splitlines():
            match = re.match(r"^\s{0,8}(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", line)
            if match and (current is None or len(line) - len(line.lstrip()) <= 4):
                current = match.group(1).lstrip("*")
                params[current] = match.group(3).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    return description, params


_PLAIN = (type(None), str, int, float, bool, dict, list)


def to_jsonable(value: Any) -> Any:
    """Plain data for templates and traces: models and dataclasses become dicts."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [to_jsonable(v) for v in value]
    return value


class FunctionTool(Tool):
    """A tool backed by a Python function (sync functions run in the executor's thread pool)."""

    def __init__(
        self,
        fn: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        side_effect: SideEffect | str = SideEffect.NONE,
        risk: RiskLevel | str = RiskLevel.LOW,
        cost_model: CostModel | None = None,
        max_concurrency: int | None = None,
        template_params: frozenset[str] | set[str] | tuple[str, ...] = (),
    ) -> None:
        tool_name = name or fn.__name__
        if not TOOL_NAME_PATTERN.match(tool_name):
            raise ToolDefinitionError(
                f"tool name '{tool_name}' is invalid: use letters, digits, '_', '-' and dots "
                "(e.g. 'github.list_pull_requests')"
            )
        effect = _choice(SideEffect, side_effect, tool_name, "side_effect")
        level = _choice(RiskLevel, risk, tool_name, "risk")
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        doc_description, doc_params = parse_docstring(fn.__doc__)
        try:
            hints = get_type_hints(fn, include_extras=True)
        except Exception as exc:
            raise ToolDefinitionError(f"tool '{tool_name}': cannot read type hints: {exc}") from exc
        self.context_param: str | None = None
        fields: dict[str, Any] = {}
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ToolDefinitionError(
                    f"tool '{tool_name}': *args/**kwargs ('{param.name}') cannot be described "
                    "by a schema; declare each parameter"
                )
            if param.kind is param.POSITIONAL_ONLY:
                raise ToolDefinitionError(
                    f"tool '{tool_name}': parameter '{param.name}' is positional-only; "
                    "tools are called with keyword params"
                )
            if param.name not in hints:
                raise ToolDefinitionError(
                    f"tool '{tool_name}': parameter '{param.name}' has no type hint"
                )
            annotation = hints[param.name]
            if annotation is ToolContext:
                self.context_param = param.name
                continue
            default = param.default
            if isinstance(default, FieldInfo):
                info = default
                if info.description is None and param.name in doc_params:
                    # A copy: assigning ``info.description`` would change the caller's object and
                    # be lost anyway (pydantic rebuilds field infos from the attributes set).
                    info = FieldInfo.merge_field_infos(info, description=doc_params[param.name])
                fields[param.name] = (annotation, info)
            else:
                # Only set a description when the docstring has one and the annotation does not:
                # an explicit ``description=None`` would erase ``Annotated[..., Field(description=
                # ...)]`` when pydantic merges the two field infos.
                extra: dict[str, Any] = {}
                if param.name in doc_params and not _annotated_description(annotation):
                    extra["description"] = doc_params[param.name]
                fields[param.name] = (
                    annotation,
                    FieldInfo(default=... if default is param.empty else default, **extra),
                )
        model_name = "".join(part.title() for part in re.split(r"[._\-]", tool_name)) + "Params"
        self.params_model: type[BaseModel] = create_model(
            model_name, __config__=ConfigDict(extra="forbid"), **fields
        )
        returns = hints.get("return", Any)
        self.output_adapter: TypeAdapter[Any] | None = None
        output_schema: dict[str, Any] | None = None
        if returns not in (Any, None, type(None)):
            self.output_adapter = TypeAdapter(returns)
            try:
                output_schema = self.output_adapter.json_schema()
            except Exception:
                output_schema = None
        self.spec = ToolSpec(
            name=tool_name,
            description=description or doc_description,
            params_schema=self.params_model.model_json_schema(),
            output_schema=output_schema,
            side_effect=effect,
            risk=level,
            cost_model=cost_model,
            max_concurrency=max_concurrency,
            template_params=frozenset(template_params),
        )
        #: Field names, read once: ``model_fields`` is slow to access on every call.
        self.param_names: tuple[str, ...] = tuple(self.params_model.model_fields)
        self.required_params = frozenset(
            name for name, info in self.params_model.model_fields.items() if info.is_required()
        )
        unknown = self.spec.template_params - set(self.param_names)
        if unknown:
            raise ToolDefinitionError(
                f"tool '{tool_name}': template_params {sorted(unknown)} are not parameters"
            )

    # --------------------------------------------------------------------- checking

    def check_params(
        self, params: Mapping[str, Any], templated: frozenset[str]
    ) -> list[ParamIssue]:
        fields = self.param_names
        if not params and not self.required_params:
            return []
        issues: list[ParamIssue] = []
        for key in params:
            if key not in fields:
                issues.append(
                    ParamIssue(
                        key,
                        "unknown_param",
                        f"'{self.name}' has no parameter '{key}'",
                        did_you_mean(key, fields) or _list_params(fields),
                    )
                )
        literal = {k: v for k, v in params.items() if k in fields and k not in templated}
        try:
            self.params_model.model_validate(literal)
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(part) for part in err["loc"]]
                key = loc[0] if loc else ""
                if key in templated:
                    continue
                if err["type"] == "missing":
                    issues.append(
                        ParamIssue(key, "missing_param", f"required parameter '{key}' is missing")
                    )
                else:
                    message = err["msg"].removeprefix("Value error, ")
                    issues.append(ParamIssue(".".join(loc), "invalid_param", message))
        return issues

    def parse_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            model = self.params_model.model_validate(params)
        except ValidationError as exc:
            raise ToolInputError(_format_validation_error(self.name, exc)) from exc
        return {name: getattr(model, name) for name in self.param_names}

    def check_output(self, output: Any) -> str | None:
        if self.output_adapter is None:
            return None
        try:
            self.output_adapter.validate_python(output)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "output"
            return f"output does not match the declared type ({where}: {first['msg']})"
        return None

    # --------------------------------------------------------------------- calling

    async def invoke(self, params: dict[str, Any], ctx: ToolContext) -> Any:
        kwargs = dict(params)
        if self.context_param is not None:
            kwargs[self.context_param] = ctx
        if self.is_async:
            return await self.fn(**kwargs)
        return await ctx.run_sync(self.fn, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (tools stay usable as plain functions)."""
        return self.fn(*args, **kwargs)


E = TypeVar("E", SideEffect, RiskLevel)


def _choice(enum: type[E], value: E | str, tool_name: str, what: str) -> E:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ToolDefinitionError(
            f"tool '{tool_name}': {what} '{value}' is invalid (choose {choices})"
        ) from None


def _annotated_description(annotation: Any) -> bool:
    """Whether ``annotation`` is ``Annotated[..., Field(description=...)]``."""
    if get_origin(annotation) is not Annotated:
        return False
    return any(
        isinstance(meta, FieldInfo) and meta.description is not None
        for meta in getattr(annotation, "__metadata__", ())
    )


def _list_params(fields: Sequence[str]) -> str:
    return "its parameters are: " + ", ".join(fields) if fields else "it takes no parameters"


def _format_validation_error(tool_name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "params"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return f"invalid params for '{tool_name}': " + "; ".join(parts)


@overload
def tool(fn: ToolFunction, /) -> FunctionTool: ...


@overload
def tool(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    side_effect: SideEffect | str = SideEffect.NONE,
    risk: RiskLevel | str = RiskLevel.LOW,
    cost_model: CostModel | None = None,
    max_concurrency: int | None = None,
    template_params: tuple[str, ...] = (),
) -> Callable[[ToolFunction], FunctionTool]: ...


def tool(
    name: str | ToolFunction | None = None,
    /,
    *,
    description: str | None = None,
    side_effect: SideEffect | str = SideEffect.NONE,
    risk: RiskLevel | str = RiskLevel.LOW,
    cost_model: CostModel | None = None,
    max_concurrency: int | None = None,
    template_params: tuple[str, ...] = (),
) -> FunctionTool | Callable[[ToolFunction], FunctionTool]:
    """Make a tool from a typed function; its params schema comes from the type hints and its
    descriptions from the docstring (Google style ``Args:``)::

        @tool("github.list_pull_requests", side_effect="none")
        async def list_pull_requests(repo: str, state: Literal["open", "merged"] = "open") -> list:
            \"\"\"List pull requests of a repository.

            Args:
                repo: Repository as owner/name.
            \"\"\"
    """
    if callable(name):
        return FunctionTool(name)

    def decorate(fn: ToolFunction) -> FunctionTool:
        return FunctionTool(
            fn,
            name=name,
            description=description,
            side_effect=side_effect,
            risk=risk,
            cost_model=cost_model,
            max_concurrency=max_concurrency,
            template_params=template_params,
        )

    return decorate
