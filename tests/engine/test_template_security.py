"""Known server-side template injection payloads are refused, statically and at render time."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError, UnsafeTemplateError
from engine.templating import StepsView, StepView, TemplateEngine
from engine.validation import validate_blueprint

# Payloads from public SSTI cheat sheets (PayloadsAllTheThings, HackTricks) for Jinja2.
PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__()[40]('/etc/passwd').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ lipsum.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os') }}",
    "{{ url_for.__globals__.os }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ''['__class__'] }}",
    "{{ inputs.__class__.__init__.__globals__ }}",
    "{{ steps.__class__ }}",
    "{{ steps.a._output }}",
    "{{ steps.a.output.__dict__ }}",
    "{{ inputs.repo.__class__.__base__.__subclasses__() }}",
    "{{ range.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ inputs.repo.format.__globals__ }}",
    "{{ '{0.__class__}'.format(inputs) }}",
    "{{ inputs|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ 'a' * 100000000 }}",
    "{{ [1] * 10000000 }}",
    "{{ 2 ** 100000000 }}",
    "{{ range(100000000) | list }}",
    "{{ inputs.tags.append('pwned') }}",
    "{{ inputs.clear() }}",
]


@pytest.fixture
def context() -> dict:
    views = {"a": StepView("a", "succeeded", output={"x": 1})}
    return {
        "inputs": {"repo": "acme/api", "tags": ["a"]},
        "steps": StepsView(views.get, list(views)),
        "run": {"id": "r", "name": "n"},
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_at_render_time(payload, context):
    engine = TemplateEngine()
    with pytest.raises(TemplateError) as info:
        engine.render(payload, context)
    text = str(info.value)
    assert "popen" not in text.lower() or "refused" in text or "undefined" in text
    assert context["inputs"] == {"repo": "acme/api", "tags": ["a"]}, "templates cannot mutate data"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_by_validation(payload, registry):
    report = validate_blueprint(
        {
            "name": "t",
            "inputs": {"repo": {"type": "string"}, "tags": {"type": "array"}},
            "steps": [
                {"id": "a", "tool": "test.work", "params": {"name": "x"}},
                {"id": "b", "tool": "test.work", "params": {"name": payload}},
            ],
        },
        registry,
    )
    if report.ok:
        # Only size/mutation payloads pass static checks; they must still fail when rendered.
        assert payload in {
            "{{ 'a' * 100000000 }}",
            "{{ [1] * 10000000 }}",
            "{{ 2 ** 100000000 }}",
            "{{ range(100000000) | list }}",
            "{{ inputs.tags.append('pwned') }}",
            "{{ '{0.__class__}'.format(inputs) }}",
            "{{ inputs|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        }, f"{payload} passed validation"
    else:
        codes = {p.code for p in report.problems}
        assert codes <= {"template_unsafe", "unknown_name", "unknown_input", "template_syntax"}


def test_unsafe_access_message_is_clear(context):
    with pytest.raises(
        UnsafeTemplateError, match="template refused: access to attribute '__class__'"
    ):
        TemplateEngine().render("{{ inputs.repo.__class__ }}", context)


def test_size_limits(context):
    engine = TemplateEngine()
    assert engine.render("{{ 'ab' * 3 }}", context) == "ababab"
    assert engine.render("{{ 2 ** 10 }}", context) == 1024
    with pytest.raises(UnsafeTemplateError, match="refusing to build a sequence"):
        engine.render("{{ 'a' * 100000000 }}", context)
    with pytest.raises(UnsafeTemplateError, match="too large"):
        engine.render("{{ 2 ** 100000000 }}", context)
    assert engine.render("{{ 9 ** 9 ** 9 }}", context) == 387420489**9  # left-associative


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a'.ljust(100000000) }}",
        "{{ 'a'.rjust(100000000) }}",
        "{{ 'a'.center(100000000) }}",
        "{{ 'a'.zfill(100000000) }}",
        "{{ '%100000000s' | format('a') }}",
        "{{ '%*s' | format(100000000, 'a') }}",
        "{{ '%100000000s' % 'a' }}",
        "{{ '%*s' % (100000000, 'a') }}",
        "{{ '{:100000000}'.format('a') }}",
        "{{ '{:{}}'.format('a', 100000000) }}",
        "{{ '{x:{w}}'.format_map({'x': 'a', 'w': 100000000}) }}",
        "{{ 'a' | center(100000000) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{{ range(1000) | length }}{% endfor %}",
    ],
)
def test_resource_exhaustion_is_refused(template, context):
    with pytest.raises(UnsafeTemplateError):
        TemplateEngine().render(template, context)


def test_reasonable_widths_and_ranges_still_work(context):
    engine = TemplateEngine()
    assert engine.render("{{ 'ab'.center(6) }}", context) == "  ab  "
    assert engine.render("{{ '%5s' % 'a' }}", context) == "    a"
    assert engine.render("{{ '{:>4}'.format('a') }}", context) == "   a"
    assert engine.render("{{ range(1000) | sum }}", context) == 499500


def test_output_size_is_capped(context, monkeypatch):
    from engine.templating import limits

    monkeypatch.setattr(limits, "MAX_OUTPUT_CHARS", 1000)
    with pytest.raises(UnsafeTemplateError, match="exceeds 1000 characters"):
        TemplateEngine().render("{% for i in range(200) %}abcdefgh{% endfor %}", context)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000)"
        " ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000) ~ ('x' * 1000000)"
        " ~ 'x' }}",
        "{{ ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000)"
        " + ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000) + ('x' * 1000000)"
        " + 'x' }}",
        "{{ (['x' * 1000000] * 50) | join }}",
        "{{ ''.join(['x' * 1000000] * 50) }}",
        "{{ ('x' * 10000).replace('x', 'y' * 10000) }}",
        "{{ ('x' * 10000) | replace('x', 'y' * 10000) }}",
        "{{ ('\\t' * 100000).expandtabs(1000) }}",
        "{{ ('a\\n' * 100000) | indent(1000) }}",
        "{{ 'a' | indent(100000000) }}",
        "{{ [1] | batch(50000000, 0) | list }}",
        "{{ [1] | slice(50000000) | list }}",
        "{{ '{:{}}'.format('a', '100000000') }}",
        "{{ (2 ** 2000) * (2 ** 2000) * (2 ** 2000) }}",
        "{% for a in ['x'] * 3000 %}{% for b in ['x'] * 3000 %}{% endfor %}{% endfor %}",
        "{{ inputs | tojson(indent=100000000) }}",
    ],
)
def test_more_resource_exhaustion_is_refused(template, context):
    with pytest.raises(UnsafeTemplateError):
        TemplateEngine().render(template, context)


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.repo.upper }}",
        "{{ inputs.tags.count }}",
        "{{ inputs.keys }}",
        "{{ range }}",
        "found {{ inputs.keys }}",
    ],
)
def test_a_function_is_never_a_value(template, context):
    with pytest.raises(TemplateError, match="is a function, not a value"):
        TemplateEngine().render(template, context)


def test_calling_methods_still_works(context):
    engine = TemplateEngine()
    assert engine.render("{{ inputs.repo.upper() }}", context) == "ACME/API"
    assert engine.render("{% for k, v in inputs.items() %}{{ k }};{% endfor %}", context) == (
        "repo;tags;"
    )
    assert engine.render("{{ inputs.tags | join(',') }}", context) == "a"
