"""Validation reports every problem at once, each located, with a plain message and a hint."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import BlueprintInvalidError
from engine.plan import build_plan
from engine.validation import ensure_valid, validate_blueprint


def problems(data: dict[str, Any], registry) -> dict[str, list[str]]:
    report = validate_blueprint({"name": "t", **data}, registry)
    assert not report.ok
    found: dict[str, list[str]] = {}
    for p in report.problems:
        found.setdefault(p.loc, []).append(
            f"{p.code}: {p.message}" + (f" ({p.hint})" if p.hint else "")
        )
    return found


def one(data: dict[str, Any], registry, loc: str) -> str:
    found = problems(data, registry)
    assert loc in found, f"no problem at {loc}; got {found}"
    assert len(found[loc]) == 1, found[loc]
    return found[loc][0]


def test_valid_blueprint_passes(registry):
    report = validate_blueprint(
        {
            "name": "ok",
            "inputs": {"who": {"type": "string", "default": "x"}},
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "{{ inputs.who }}"}},
                {"id": "b", "tool": "test.work", "params": {"name": "{{ steps.a.output.name }}"}},
            ],
            "outputs": {"n": "{{ steps.b.output }}"},
        },
        registry,
    )
    assert report.ok, report.summary()
    assert report.blueprint is not None


def test_unknown_tool_suggests_close_names(registry):
    message = one({"steps": [{"id": "a", "tool": "test.wrok"}]}, registry, "steps[0].tool")
    assert message == "unknown_tool: unknown tool 'test.wrok' (did you mean 'test.work'?)"


def test_unknown_param_missing_param_and_bad_literal(registry):
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"nmae": "x"}},
                {"id": "b", "tool": "test.work", "params": {"name": "b", "seconds": "soon"}},
            ]
        },
        registry,
    )
    assert found["steps[0].params.nmae"] == [
        "unknown_param: 'test.work' has no parameter 'nmae' (did you mean 'name'?)"
    ]
    assert found["steps[0].params.name"] == ["missing_param: required parameter 'name' is missing"]
    assert found["steps[1].params.seconds"][0].startswith(
        "invalid_param: Input should be a valid number"
    )


def test_templated_params_count_as_present_and_are_not_type_checked(registry):
    report = validate_blueprint(
        {
            "name": "t",
            "inputs": {"s": {"type": "string"}},
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "params": {"name": "x", "seconds": "{{ inputs.s }}"},
                }
            ],
        },
        registry,
    )
    assert report.ok, report.summary()


def test_duplicate_ids_and_missing_dependencies(registry):
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {
                    "id": "b",
                    "tool": "test.work",
                    "params": {"name": "b"},
                    "depends_on": ["aa", "b"],
                },
            ]
        },
        registry,
    )
    assert found["steps[1].id"] == [
        "duplicate_step: duplicate step id 'a' (already used by steps[0])"
    ]
    assert found["steps[2].depends_on[0]"] == [
        "unknown_step: depends_on names step 'aa', which does not exist (did you mean 'a'?)"
    ]
    assert found["steps[2].depends_on[1]"] == ["self_dependency: step 'b' depends on itself"]


def test_cycle_is_printed_in_run_order(registry):
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "{{ steps.c.output.name }}"}},
                {"id": "b", "tool": "test.work", "params": {"name": "b"}, "depends_on": ["a"]},
                {"id": "c", "tool": "test.work", "params": {"name": "c"}, "depends_on": ["b"]},
                {"id": "ok", "tool": "test.work", "params": {"name": "ok"}},
            ]
        },
        registry,
    )
    assert found["steps[0]"] == [
        "cycle: dependency cycle: a → b → c → a "
        "(a step cannot (directly or through templates) need its own result)"
    ]
    assert len([m for ms in found.values() for m in ms]) == 1


def test_two_independent_cycles_are_both_reported(registry):
    steps = []
    for x, y in (("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")):
        steps.append({"id": x, "tool": "test.work", "params": {"name": x}, "depends_on": [y]})
    found = problems({"steps": steps}, registry)
    cycles = sorted(m for ms in found.values() for m in ms if m.startswith("cycle"))
    assert len(cycles) == 2
    assert "a → b → a" in cycles[0]
    assert "c → d → c" in cycles[1]


def test_a_long_chain_cycle_does_not_overflow_the_stack(registry):
    n = 3000
    steps = [
        {
            "id": f"s{i}",
            "tool": "test.work",
            "params": {"name": "x"},
            "depends_on": [f"s{(i - 1) % n}"],
        }
        for i in range(n)
    ]
    found = problems({"steps": steps}, registry)
    (messages,) = found.values()
    assert messages[0].count("→") == n


def test_template_references_are_checked(registry):
    found = problems(
        {
            "inputs": {"repo": {"type": "string"}},
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "{{ inputs.rpeo }}"}},
                {"id": "b", "tool": "test.work", "params": {"name": "{{ steps.zz.output }}"}},
                {"id": "c", "tool": "test.work", "params": {"name": "{{ steps.c.output }}"}},
                {"id": "d", "tool": "test.work", "params": {"name": "{{ steps.a.outptu }}"}},
                {"id": "e", "tool": "test.work", "params": {"name": "{{ repo }}"}},
                {"id": "f", "tool": "test.work", "params": {"name": "{{ item }}"}},
                {"id": "g", "tool": "test.work", "params": {"name": "{{ run.nope }}"}},
                {"id": "h", "tool": "test.work", "params": {"name": "{{ steps }}"}},
                {"id": "i", "tool": "test.work", "params": {"name": "{{ a.output }}"}},
            ],
        },
        registry,
    )
    assert found["steps[0].params.name"] == [
        "unknown_input: template refers to input 'rpeo', which is not declared in inputs "
        "(did you mean 'repo'?)"
    ]
    assert found["steps[1].params.name"] == [
        "unknown_step: template refers to step 'zz', which does not exist"
    ]
    assert found["steps[2].params.name"][0].startswith(
        "self_reference: step 'c' refers to its own result"
    )
    assert found["steps[3].params.name"] == [
        "unknown_field: steps.a has no field 'outptu' (did you mean 'output'?)"
    ]
    assert found["steps[4].params.name"] == [
        "unknown_name: template refers to unknown name 'repo' (did you mean 'inputs.repo'?)"
    ]
    assert found["steps[5].params.name"][0].startswith(
        "unknown_name: template refers to unknown name 'item'"
    )
    assert found["steps[6].params.name"] == [
        "unknown_name: run has no field 'nope' (available: id, name)"
    ]
    assert found["steps[7].params.name"] == [
        "step_reference: refer to a step by its id: 'steps.<id>.output'"
    ]
    assert found["steps[8].params.name"] == [
        "unknown_name: template refers to unknown name 'a' (did you mean 'steps.a.output'?)"
    ]


def test_loop_variable_only_inside_for_each_params(registry):
    found = problems(
        {
            "steps": [
                {
                    "id": "each",
                    "tool": "test.work",
                    "for_each": {"items": "{{ [svc] }}", "as": "svc"},
                    "params": {"name": "{{ svc }}-{{ index }}"},
                    "when": "{{ svc }}",
                }
            ]
        },
        registry,
    )
    assert "steps[0].params.name" not in found
    assert found["steps[0].for_each.items"][0].startswith(
        "item_outside_loop: 'svc' is not available"
    )
    assert found["steps[0].when"][0].startswith("item_outside_loop")


def test_template_syntax_and_unsafe_access(registry):
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "{{ inputs. }}"}},
                {"id": "b", "tool": "test.work", "params": {"name": "{{ ''.__class__ }}"}},
                {
                    "id": "c",
                    "tool": "test.work",
                    "params": {"name": "x"},
                    "when": "steps.a.status ==",
                },
            ]
        },
        registry,
    )
    assert found["steps[0].params.name"][0].startswith("template_syntax: template syntax error")
    assert found["steps[1].params.name"][0].startswith(
        "template_unsafe: template refers to '__class__'"
    )
    assert found["steps[2].when"][0].startswith("template_syntax")


def test_structural_errors_are_located_with_hints(registry):
    found = problems(
        {
            "steps": [
                {"id": "ok", "tool": "test.work", "params": {"name": "x"}},
                {"id": "bad id", "tool": "test.work", "params": {"name": "x"}},
                {"id": "c", "tool": "test.work", "dependson": ["ok"], "params": {"name": "x"}},
                {"id": "d", "tool": "test.work", "params": {"name": "x"}, "retry": {"attempts": 0}},
                {"id": "e", "tool": "test.work", "params": {"name": "x"}, "on_error": "fallback"},
                {
                    "id": "f",
                    "tool": "test.work",
                    "params": {"name": "x"},
                    "retry": {"errors": ["flaky"]},
                },
                {"tool": "test.work"},
            ]
        },
        registry,
    )
    assert found["steps[1].id"][0].startswith("string_pattern_mismatch")
    assert found["steps[2].dependson"] == [
        "extra_forbidden: unknown field 'dependson' (did you mean 'depends_on'?)"
    ]
    assert found["steps[3].retry.attempts"][0].startswith("greater_than_equal")
    assert found["steps[4]"] == ["value_error: on_error is 'fallback' but no fallback is given"]
    assert "'flaky' is neither an error category" in found["steps[5].retry.errors"][0]
    assert found["steps[6].id"] == ["missing: required field 'id' is missing"]


def test_problems_in_valid_steps_are_found_even_when_others_do_not_parse(registry):
    """One structurally broken step must not hide the semantic problems of the others."""
    found = problems(
        {
            "steps": [
                {"id": "broken", "tool": "test.work", "retry": "often"},
                {"id": "b", "tool": "test.nope", "params": {"name": "{{ steps.broken.output }}"}},
            ]
        },
        registry,
    )
    assert "steps[0].retry" in found
    assert found["steps[1].tool"][0].startswith("unknown_tool")
    assert "steps[1].params.name" not in found, "broken still counts as an existing step"


def test_top_level_problems(registry):
    found = problems({"steps": [], "nmae": "x", "inputs": {"bad-name": {}}}, registry)
    assert found["steps"][0].startswith("too_short")
    assert found["nmae"] == ["extra_forbidden: unknown field 'nmae' (did you mean 'name'?)"]
    assert "input name 'bad-name' must be an identifier" in found["inputs"][0]
    report = validate_blueprint(["not", "a", "mapping"], registry)  # type: ignore[arg-type]
    assert report.problems[0].message == "a blueprint must be a mapping, not list"


def test_fallback_and_compensate_tools_and_params_are_checked(registry):
    found = problems(
        {
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "params": {"name": "a"},
                    "on_error": "fallback",
                    "fallback": {"tool": "test.wrk", "params": {}},
                    "compensate": {
                        "tool": "test.undo",
                        "params": {"nam": "{{ steps.a.output.name }}"},
                    },
                }
            ]
        },
        registry,
    )
    assert found["steps[0].fallback.tool"][0].startswith("unknown_tool: unknown tool 'test.wrk'")
    assert found["steps[0].compensate.params.nam"][0].startswith("unknown_param")
    assert found["steps[0].compensate.params.name"] == [
        "missing_param: required parameter 'name' is missing"
    ]


def test_outputs_and_input_defaults_are_checked(registry):
    found = problems(
        {
            "inputs": {
                "n": {"type": "integer", "default": "many"},
                "color": {"type": "string", "default": "red", "enum": ["blue"]},
            },
            "steps": [{"id": "a", "tool": "test.work", "params": {"name": "x"}}],
            "outputs": {"x": "{{ steps.b.output }}", "y": {"deep": "{{ inputs.m }}"}},
        },
        registry,
    )
    assert found["inputs.n.default"][0].startswith("invalid_default: expected integer")
    assert found["inputs.color.default"] == ["invalid_default: 'red' is not one of 'blue'"]
    assert found["outputs.x"][0].startswith("unknown_step")
    assert found["outputs.y.deep"][0].startswith("unknown_input")


def test_for_each_items_must_be_a_list_or_template(registry):
    message = one(
        {
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "for_each": {"items": "a,b"},
                    "params": {"name": "x"},
                }
            ]
        },
        registry,
        "steps[0].for_each.items",
    )
    assert message.startswith("invalid_items: for_each.items must be a list or a template")


def test_many_problems_are_reported_together(registry):
    """An LLM-style blueprint with a mistake of every kind yields every problem in one report."""
    report = validate_blueprint(
        {
            "name": "messy",
            "steps": [
                {"id": "a", "tool": "test.wrok"},
                {"id": "a", "tool": "test.work", "params": {"nmae": 1}},
                {"id": "b", "tool": "test.work", "params": {"name": "{{ steps.c.output }}"}},
                {"id": "c", "tool": "test.work", "params": {"name": "{{ steps.b.output }}"}},
                {
                    "id": "d",
                    "tool": "test.work",
                    "params": {"name": "{{ inputs.x }}"},
                    "depends_on": ["q"],
                },
            ],
        },
        registry,
    )
    codes = sorted(p.code for p in report.problems)
    assert codes == sorted(
        [
            "unknown_tool",
            "duplicate_step",
            "unknown_param",
            "missing_param",
            "cycle",
            "unknown_input",
            "unknown_step",
        ]
    )


def test_without_a_registry_tools_are_not_checked():
    report = validate_blueprint({"name": "t", "steps": [{"id": "a", "tool": "anything.goes"}]})
    assert report.ok


def test_ensure_valid_and_build_plan_raise_with_every_problem(registry):
    data = {"name": "t", "steps": [{"id": "a", "tool": "x.y"}, {"id": "b", "tool": "x.z"}]}
    with pytest.raises(BlueprintInvalidError) as info:
        ensure_valid(data, registry)
    assert len(info.value.problems) == 2
    assert "steps[0].tool: unknown tool 'x.y'" in str(info.value)


def test_plan_dependencies_include_template_references(registry):
    blueprint = ensure_valid(
        {
            "name": "t",
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {"id": "b", "tool": "test.work", "params": {"name": "b"}},
                {
                    "id": "c",
                    "tool": "test.work",
                    "params": {"name": "{{ steps.a.output.name }}"},
                    "when": "steps.b.status == 'succeeded'",
                },
            ],
        },
        registry,
    )
    plan = build_plan(blueprint, registry)
    assert plan.steps["c"].needs == {"a", "b"}
    assert plan.roots == ["a", "b"]
    assert plan.order.index("c") == 2
    assert sorted(plan.steps["a"].dependents) == ["c"]


def test_computed_step_references_are_refused(registry):
    message = one(
        {
            "inputs": {"which": {"type": "string"}},
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {
                    "id": "b",
                    "tool": "test.work",
                    "params": {"name": "{{ steps[inputs.which].output }}"},
                },
            ],
        },
        registry,
        "steps[1].params.name",
    )
    assert message.startswith("dynamic_step_reference: steps must be named directly")


def test_templates_inside_a_literal_for_each_list_are_checked_and_scheduled(registry):
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {
                    "id": "b",
                    "tool": "test.work",
                    "params": {"name": "{{ item }}"},
                    "for_each": {"items": ["{{ steps.a.output.name }}", "{{ inputs.nope }}"]},
                },
            ]
        },
        registry,
    )
    assert found["steps[1].for_each.items[1]"][0].startswith("unknown_input")
    report = validate_blueprint(
        {
            "name": "t",
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {
                    "id": "b",
                    "tool": "test.work",
                    "params": {"name": "{{ item }}"},
                    "for_each": {"items": ["{{ steps.a.output.name }}"]},
                },
            ],
        },
        registry,
    )
    assert report.dependencies["b"] == {"a"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("when", "{{ steps.a.output.value }} > 3"),
        ("when", "{{ steps.a.output.value > 3 }} and {{ false }}"),
    ],
)
def test_conditions_must_be_one_expression(registry, field, value):
    message = one(
        {
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "a"}},
                {"id": "b", "tool": "test.work", "params": {"name": "b"}, field: value},
            ]
        },
        registry,
        f"steps[1].{field}",
    )
    assert message.startswith("not_an_expression: a condition must be one expression, not text")


def test_for_each_items_template_must_be_one_expression(registry):
    message = one(
        {
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "params": {"name": "a"},
                    "for_each": {"items": "[{{ 1 }}, {{ 2 }}]"},
                }
            ]
        },
        registry,
        "steps[0].for_each.items",
    )
    assert message.startswith("not_an_expression: for_each.items must be one expression")


def test_compensation_references_do_not_schedule(registry):
    """A compensation reading a later step does not make the step wait for it (no false
    cycle either)."""
    report = validate_blueprint(
        {
            "name": "t",
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "params": {"name": "a"},
                    "compensate": {
                        "tool": "test.undo",
                        "params": {"name": "{{ steps.c.output.name }}"},
                    },
                },
                {"id": "c", "tool": "test.work", "params": {"name": "{{ steps.a.output.name }}"}},
            ],
        },
        registry,
    )
    assert report.ok, report.summary()
    assert report.dependencies == {"a": set(), "c": {"a"}}


def test_retry_error_names_are_checked(registry):
    message = one(
        {
            "steps": [
                {
                    "id": "a",
                    "tool": "test.work",
                    "params": {"name": "a"},
                    "retry": {"errors": ["Timeout"]},
                }
            ]
        },
        registry,
        "steps[0].retry.errors",
    )
    assert "'Timeout' is neither an error category" in message
    assert "did you mean 'timeout'" in message
    for accepted in (["ConnectionError"], ["TransientToolError"], ["GitHubRateLimitError"]):
        report = validate_blueprint(
            {
                "name": "t",
                "steps": [
                    {
                        "id": "a",
                        "tool": "test.work",
                        "params": {"name": "a"},
                        "retry": {"errors": accepted},
                    }
                ],
            },
            registry,
        )
        assert report.ok, report.summary()


def test_a_malformed_field_does_not_hide_the_steps_other_problems(registry):
    found = problems(
        {
            "steps": [
                {
                    "id": "a",
                    "tool": "test.wrk",
                    "params": {"nme": 1},
                    "retry": "often",
                    "depends_on": ["zz"],
                },
                {"id": "b", "tool": "test.work", "params": {"name": "b"}, "on_error": "fallback"},
            ]
        },
        registry,
    )
    assert "steps[0].retry" in found
    assert found["steps[0].tool"][0].startswith("unknown_tool")
    assert found["steps[0].depends_on[0]"][0].startswith("unknown_step")
    assert found["steps[1]"] == ["value_error: on_error is 'fallback' but no fallback is given"]


def test_no_silly_substring_suggestions():
    from engine.problems import closest

    assert closest("nope", ["e", "x", "path"]) == []
    assert closest("repo", ["repository", "name"]) == ["repository"]
