"""Templating: native types, filters, explanatory undefined errors, references."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError, TemplateUndefinedError, UpstreamOutputMissingError
from engine.templating import Reference, StepsView, StepView, TemplateEngine, is_template


@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.fixture
def context() -> dict:
    views = {
        "prs": StepView(
            "prs",
            "succeeded",
            output={"count": 3, "items": [{"title": "Fix", "n": 7}, {"title": "Add", "n": 9}]},
        ),
        "skipped": StepView("skipped", "skipped"),
        "broken": StepView("broken", "failed", error="boom"),
    }
    return {
        "inputs": {"repo": "acme/api", "channel": "#dev", "n": 2, "tags": ["a", "b"]},
        "steps": StepsView(views.get, list(views)),
        "run": {"id": "r1", "name": "demo"},
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ steps.prs.output.count }}", 3),
        ("{{ steps.prs.output['count'] }}", 3),
        ("{{ steps.prs.output.items[1].n }}", 9),
        ("{{ steps.prs.output.items }}", [{"title": "Fix", "n": 7}, {"title": "Add", "n": 9}]),
        ("  {{ inputs.n * 2 }}  ", 4),
        ("{{ inputs.tags | join(', ') }}", "a, b"),
        (
            "{{ steps.prs.output | tojson }}",
            '{"count": 3, "items": [{"title": "Fix", "n": 7}, {"title": "Add", "n": 9}]}',
        ),
        ("{{ '<b>' | tojson }}", '"<b>"'),  # no HTML escaping: messages go to Slack, not a page
        ("PRs: {{ steps.prs.output.count }}", "PRs: 3"),
        ("{{ steps.prs.status }}", "succeeded"),
        ("{{ steps.broken.error }}", "boom"),
        ("{{ steps.skipped.output | default('none') }}", "none"),
        ("{{ steps.skipped.output.deep.er | default('none') }}", "none"),
        ("{{ steps.prs.output is defined }}", True),
        ("{{ steps.skipped.output is defined }}", False),
        ("{{ run.name }}-{{ run.id }}", "demo-r1"),
        ("{% for t in inputs.tags %}{{ t }}{% endfor %}", "ab"),
        ("{{ '{\"a\": 1}' | fromjson }}", {"a": 1}),
        ("{{ steps.prs.output.items | map(attribute='title') | list }}", ["Fix", "Add"]),
        ("no template here", "no template here"),
        ("{{ none }}", None),
    ],
)
def test_render(engine, context, template, expected):
    assert engine.render(template, context) == expected


def test_keys_win_over_dict_methods(engine):
    """`output.items` is the key 'items', not dict.items — outputs are data, not objects."""
    assert engine.render("{{ d.items }}", {"d": {"items": [1]}}) == [1]
    assert engine.render("{{ d.keys }}", {"d": {"keys": "k"}}) == "k"


def test_nested_structures_render_element_by_element(engine, context):
    value = {
        "repo": "{{ inputs.repo }}",
        "list": ["{{ inputs.n }}", 5, {"x": "{{ inputs.n + 1 }}"}],
    }
    assert engine.render(value, context) == {"repo": "acme/api", "list": [2, 5, {"x": 3}]}
    constant = {"a": [1, 2]}
    assert engine.compile(constant).render(context) is constant  # untouched, not copied


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ inputs.rpeo }}", "inputs has no key 'rpeo'; did you mean 'repo'?"),
        (
            "{{ steps.prs.output.itmes }}",
            "steps.prs.output has no key 'itmes'; did you mean 'items'?",
        ),
        (
            "{{ steps.prs.output.items[5] }}",
            "steps.prs.output.items has no index 5 (it has 2 item(s))",
        ),
        (
            "{{ steps.prs.output.items[0].body }}",
            "steps.prs.output.items[0] has no key 'body'; its keys are: title, n",
        ),
        ("{{ steps.nope.output }}", "there is no step 'nope'"),
        ("{{ steps.prs.result }}", "steps.prs has no field 'result'"),
        ("{{ missing }}", "'missing' is undefined"),
        ("x {{ inputs.nope }} y", "inputs has no key 'nope'"),
    ],
)
def test_undefined_fails_with_a_message_naming_the_missing_key(engine, context, template, message):
    with pytest.raises(TemplateUndefinedError) as info:
        engine.render(template, context)
    assert message in str(info.value)


def test_undefined_never_renders_as_empty_string(engine, context):
    with pytest.raises(TemplateUndefinedError):
        engine.render("Hello {{ inputs.name }}!", context)
    with pytest.raises(TemplateUndefinedError):
        engine.render("{% if inputs.nope %}x{% endif %}", context)


def test_output_of_a_step_that_did_not_succeed(engine, context):
    with pytest.raises(UpstreamOutputMissingError, match="'skipped', which was skipped"):
        engine.render("{{ steps.skipped.output.x + 1 }}", context)
    with pytest.raises(UpstreamOutputMissingError, match="'broken', which failed"):
        engine.render("{{ steps.broken.output }}", context)


def test_errors_in_expressions_are_template_errors(engine, context):
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        engine.render("{{ 1 / 0 }}", context)
    with pytest.raises(TemplateError, match="fromjson: not valid JSON"):
        engine.render("{{ 'x' | fromjson }}", context)
    with pytest.raises(TemplateError, match="syntax error"):
        engine.compile("{{ inputs. }}")


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (True, True),
        (False, False),
        (0, False),
        ("false", False),
        ("False", False),
        ("0", False),
        ("", False),
        ("no", False),
        ("yes", True),
        ("anything", True),
        ([], False),
        ([0], True),
    ],
)
def test_condition_truthiness(value, truthy):
    assert TemplateEngine.truthy(value) is truthy


def test_conditions_accept_bare_expressions(engine, context):
    assert engine.compile_condition("inputs.n > 1").render(context) is True
    assert engine.compile_condition("{{ inputs.n > 5 }}").render(context) is False


def test_references(engine):
    refs = engine.references(
        {
            "a": "{{ steps.prs.output.items[0].title }}",
            "b": "{{ inputs.repo | default(steps.other.output['x']) }}",
            "c": "{% for t in inputs.tags %}{{ t.name }}{{ loop.index }}{% endfor %}",
            "d": "{{ steps[name].output }}",
            "e": "plain",
            "f": "{{ steps.x | attr('status') }}",
        }
    )
    assert set(refs) == {
        Reference("steps", ("prs", "output", "items", 0, "title")),
        Reference("inputs", ("repo",)),
        Reference("steps", ("other", "output", "x")),
        Reference("inputs", ("tags",)),
        Reference("steps", (), dynamic=True),
        Reference("name", ()),
        Reference("steps", ("x", "status")),
    }


def test_is_template():
    assert (
        is_template("{{ x }}") and is_template("{% if x %}{% endif %}") and is_template("{# c #}")
    )
    assert not is_template("plain") and not is_template(3) and not is_template("{ x }")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ [inputs.nope] }}", "inputs has no key 'nope'"),
        ("{{ {'k': inputs.nope} }}", "inputs has no key 'nope'"),
        ("{{ (inputs.nope, 1) }}", "inputs has no key 'nope'"),
        ("v={{ [inputs.nope] }}", "inputs has no key 'nope'"),
        ("{{ inputs.tags | map(attribute='nope') | list }}", "has no item 'nope'"),
    ],
)
def test_undefined_hidden_inside_a_value_is_an_error(engine, context, template, message):
    with pytest.raises(TemplateUndefinedError, match=message):
        engine.render(template, context)


def test_a_step_itself_is_not_a_value(engine, context):
    with pytest.raises(TemplateError, match="the step 'prs' itself is not a value"):
        engine.render("{{ steps.prs }}", context)
    with pytest.raises(TemplateError, match="all steps together are not a value"):
        engine.render("{{ steps }}", context)
    with pytest.raises(TemplateError, match="the step 'prs' itself is not a value"):
        engine.render("text {{ steps.prs }}", context)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'abcdef' | truncate(1) }}",
        "{{ [1] | map('nosuch') | list }}",
        "{{ [1] | select('x') | list }}",
    ],
)
def test_errors_raised_inside_filters_are_template_errors(engine, context, template):
    with pytest.raises(TemplateError, match="error evaluating"):
        engine.render(template, context)


def test_is_expression(engine):
    assert engine.is_expression("{{ a > 1 }}")
    assert not engine.is_expression("{{ a }} > 1")
    assert not engine.is_expression("plain")


@pytest.mark.parametrize(
    "template",
    ["{{ [inputs.nope] | length }}", "{{ inputs.nope | round }}", "{{ inputs.nope | int }}"],
)
def test_undefined_passed_to_a_filter_is_an_error(engine, context, template):
    with pytest.raises(TemplateUndefinedError, match="inputs has no key 'nope'"):
        engine.render(template, context)
