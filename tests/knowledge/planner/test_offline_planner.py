"""The offline planner on a small chat-ops catalog: requests become validated blueprints."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from engine.blueprint import Blueprint
from engine.tools.base import ToolSpec
from engine.tools.builtin import builtin_registry
from engine.tools.builtin.config import BuiltinToolsConfig
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from engine.validation import validate_blueprint
from knowledge.history.views import ExemplarInfo
from knowledge.planner.offline import OfflinePlanner, OfflineSettings
from knowledge.planner.result import PlanPath, PlanResult, Retrieval
from knowledge.search.catalog import entry_from_spec
from knowledge.search.exemplars import ExemplarHit
from knowledge.search.index import ToolIndex

TODAY = date(2024, 3, 10)


def spec(name: str, description: str, **params: str | dict[str, Any]) -> ToolSpec:
    """A described-only tool whose params are all required strings unless given a schema."""
    properties = {
        key: value if isinstance(value, dict) else {"type": "string", "description": value}
        for key, value in params.items()
    }
    return ToolSpec(
        name=name,
        description=description,
        params_schema={
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        },
    )


SPECS = [
    spec(
        "github.open_pull_request",
        "Open a pull request on a GitHub repository.",
        repo="The repository",
        title="Title of the pull request",
    ),
    spec("github.list_issues", "List the open issues of a GitHub repository.", repo="The repo"),
    spec("ci.run_tests", "Run the test suite of a repository in CI.", repo="The repository"),
    spec(
        "deploy.service",
        "Deploy a service to an environment.",
        service="The service to deploy",
        environment={
            "type": "string",
            "enum": ["staging", "production"],
            "description": "Target environment",
        },
    ),
    spec("deploy.rollback", "Roll a service back to its previous release.", service="Service"),
    spec(
        "slack.post_message",
        "Post a message to a Slack channel.",
        channel="The channel",
        text="What to say",
    ),
    spec(
        "pagerduty.page",
        "Page the on-call engineer of a service about an incident.",
        service="The affected service",
        message="What is wrong",
    ),
    spec(
        "email.send",
        "Send an email.",
        email_address="Recipient's email",
        subject="Subject line",
        body="The email's text",
    ),
    spec(
        "weather.get",
        "Get the weather forecast for a city on a date.",
        city="The city",
        date="The day (YYYY-MM-DD)",
    ),
    spec(
        "sms.send",
        "Send a text message to a phone number.",
        phone_number="The phone number",
        message="The text",
    ),
    spec(
        "calendar.create_event",
        "Create a calendar event at a date and time.",
        title="Event title",
        date="The day",
        time="The time",
    ),
    spec("jira.create_issue", "Create a Jira ticket.", summary="Ticket summary"),
    spec("metrics.query", "Query a metric from the monitoring system.", query="Metric query"),
    spec("logs.search", "Search the application logs.", query="What to look for"),
    spec(
        "k8s.scale",
        "Scale a Kubernetes deployment to a number of replicas.",
        deployment="The deployment",
        replicas={"type": "integer"},
    ),
    spec("taxi.order", "Order a cab ride to an address.", address="Where to go"),
    spec("docs.search", "Search the internal documentation wiki.", query="Search terms"),
    spec("status.check", "Check the health status of a service.", service="The service"),
]


def registry() -> ToolRegistry:
    return ToolRegistry([SchemaTool(s) for s in SPECS])


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ToolIndex:
    tool_index = ToolIndex(tmp_path_factory.mktemp("tool-index"))
    tool_index.sync([entry_from_spec(s) for s in SPECS])
    return tool_index


@pytest.fixture(scope="module")
def planner(index: ToolIndex) -> OfflinePlanner:
    return OfflinePlanner(index, registry(), today=TODAY)


def planned(planner: OfflinePlanner, request: str, **retrieval: Any) -> PlanResult:
    """The plan, checked for what every offline plan promises."""
    result = planner.plan(request, Retrieval(**retrieval) if retrieval else None)
    assert result.latency_ms > 0
    assert result.request == request.strip()
    assert result.blueprint is not None or result.question
    if result.blueprint is not None:
        report = validate_blueprint(result.blueprint, planner.registry)
        assert report.ok, report.summary()
    return result


def steps_of(blueprint: Blueprint | None) -> list[tuple[str, dict[str, Any], list[str]]]:
    assert blueprint is not None
    return [(s.tool, dict(s.params), list(s.depends_on)) for s in blueprint.steps]


# ------------------------------------------------------------------------------ from clauses


def test_a_chain_of_requests_is_a_chain_of_steps(planner):
    result = planned(
        planner,
        "run the tests for repo kaizen, then deploy the api service to staging "
        "and post the result in #dev",
    )
    assert result.path is PlanPath.OFFLINE
    assert result.blueprint is not None
    tests, deploy, post = result.blueprint.steps
    assert [tests.tool, deploy.tool, post.tool] == [
        "ci.run_tests",
        "deploy.service",
        "slack.post_message",
    ]
    assert tests.depends_on == []
    assert deploy.depends_on == [tests.id]
    assert post.depends_on == [deploy.id]
    assert deploy.params["environment"] == "staging"
    assert post.params["channel"] == "#dev"
    # "the result" refers back: the message is the previous step's output
    assert post.params["text"] == "{{ steps." + deploy.id + ".output }}"
    assert result.explanation.startswith("offline planner: 3 step(s)")
    assert result.tools_considered == ["ci.run_tests", "deploy.service", "slack.post_message"]
    assert 0 < result.confidence <= 1
    # whatever the words did not give is a declared input, never an invented value
    for step in result.blueprint.steps:
        for value in step.params.values():
            if isinstance(value, str) and value.startswith("{{ inputs."):
                name = value.removeprefix("{{ inputs.").removesuffix(" }}")
                assert name in result.blueprint.inputs


def test_names_and_numbers_fill_the_params(planner):
    result = planned(
        planner,
        "open a pull request on Kaizen, then scale the Checkout deployment to 5 replicas",
    )
    assert steps_of(result.blueprint)[1] == (
        "k8s.scale",
        {"deployment": "Checkout", "replicas": 5},
        ["open_pull_request"],
    )


def test_a_parallel_clause_does_not_wait_for_the_step_before(planner):
    result = planned(
        planner, "deploy the Billing service to staging. Meanwhile, page the on-call engineer"
    )
    deploy, page = result.blueprint.steps
    assert (deploy.tool, deploy.params) == (
        "deploy.service",
        {"service": "Billing", "environment": "staging"},
    )
    assert page.tool == "pagerduty.page"
    assert page.depends_on == []
    # "page the on-call engineer" says nothing but which tool: what is wrong is asked
    assert page.params["message"] == "{{ inputs.page_message }}"


def test_a_parallel_step_waits_for_what_the_step_before_waited_for(planner):
    result = planned(
        planner,
        "run the tests for Kaizen, then deploy the Billing service to staging "
        "while you page the on-call engineer",
    )
    tests, deploy, page = result.blueprint.steps
    assert deploy.depends_on == [tests.id]
    assert page.depends_on == [tests.id]


def test_at_the_same_time_before_a_comma_is_parallel_too(planner):
    # read_clauses keeps "At the same time" as a clause of its own, so the page step waits for
    # the deploy and the plan asks about the "At the same time" clause
    result = planned(
        planner,
        "deploy the Billing service to staging. At the same time, page the on-call engineer",
    )
    _deploy, page = result.blueprint.steps
    assert page.tool == "pagerduty.page"
    assert page.depends_on == []
    assert "At the same time" not in (result.question or "")


def test_a_required_value_not_in_the_request_becomes_an_input_and_a_question(planner):
    result = planned(planner, "check the weather")
    assert result.blueprint is not None
    (step,) = result.blueprint.steps
    assert step.tool == "weather.get"
    inputs = {
        name: value.removeprefix("{{ inputs.").removesuffix(" }}")
        for name, value in step.params.items()
    }
    assert set(inputs) == {"city", "date"}
    assert set(inputs.values()) == set(result.blueprint.inputs)
    assert all(spec.type == "string" for spec in result.blueprint.inputs.values())
    assert result.question is not None
    assert "city" in result.question and "date" in result.question
    assert "weather.get" in result.question


def test_scene_setting_gives_values_but_no_step(planner):
    result = planned(planner, "I have a busy day tomorrow. Could you check the weather in Paris?")
    assert steps_of(result.blueprint) == [
        ("weather.get", {"city": "Paris", "date": "2024-03-11"}, [])
    ]
    assert result.question is None
    assert result.blueprint.steps[0].description == "Could you check the weather in Paris"


def test_a_clause_that_says_little_is_understood_with_the_clause_before(planner):
    """Alone, "Could you check it?" reads like the service health check; after "The weather in
    Paris on Friday matters" it is the weather: one step, not a weather step plus a check."""
    result = planned(
        planner, "The weather in Paris on Friday matters for the offsite. Could you check it?"
    )
    assert [step.tool for step in result.blueprint.steps] == ["weather.get"]
    assert result.blueprint.steps[0].params["city"] == "Paris"


@pytest.mark.parametrize("request_text", ["what a lovely day", "asdf qwer zxcv", "   ", "thanks!"])
def test_a_request_no_tool_fits_gets_a_question_and_no_blueprint(planner, request_text):
    result = planned(planner, request_text)
    assert result.blueprint is None
    assert result.question
    assert result.confidence == 0
    assert result.path is PlanPath.OFFLINE


def test_the_same_tool_asked_twice_is_one_step(planner):
    result = planned(planner, "page the on-call engineer. Please page the on-call engineer now")
    assert [s.tool for s in result.blueprint.steps] == ["pagerduty.page"]


def test_words_shared_with_an_earlier_step_are_the_topic_not_the_request(planner):
    # "the rollback of the Billing service" pulls the clause towards the rollback tool; what
    # is left once the earlier clause's words are set aside asks for a ticket
    result = planned(
        planner,
        "Roll back the Billing service. Then open a Jira ticket about the rollback of the "
        "Billing service",
    )
    rollback, ticket = result.blueprint.steps
    assert (rollback.tool, ticket.tool) == ("deploy.rollback", "jira.create_issue")
    assert ticket.depends_on == [rollback.id]


@pytest.mark.parametrize(
    "request_text",
    [
        "create a Jira ticket 'Fix login'. Then create a Jira ticket 'Fix logout'",
        "create a Jira ticket 'Fix login'\ncreate a Jira ticket 'Fix logout'",
    ],
)
def test_the_same_tool_with_its_own_quoted_values_is_two_calls(planner, request_text):
    result = planned(planner, request_text)
    assert result.blueprint is not None
    first = result.blueprint.steps[0].id
    assert [(t, p["summary"], d) for t, p, d in steps_of(result.blueprint)] == [
        ("jira.create_issue", "Fix login", []),
        ("jira.create_issue", "Fix logout", [first]),
    ]


@pytest.mark.parametrize(
    "request_text",
    [
        "send a text to 555-123-4567 saying the build is green",
        "email bob@example.com the release notes",
        "open a pull request on Kaizen titled 'Fix login', then run the tests for Kaizen",
        "search the logs for timeouts and post what you find in #ops",
        "roll back the Billing service and create a Jira ticket about it",
        "check the status of Billing. If it is down, page the on-call engineer",
        "deploy the Billing service to Production",
        "Page Carol about the outage",
    ],
)
def test_every_blueprint_returned_is_valid(planner, request_text):
    result = planned(planner, request_text)  # validates any blueprint
    assert result.blueprint is not None
    assert result.path is PlanPath.OFFLINE
    assert result.blueprint.description == request_text


def test_a_date_with_a_comma_asks_nothing_more(planner):
    # read_clauses splits "September 5, 2023 at 15:30" at the comma and the planner then asks
    # "I found no tool for: '2023 at 15:30'"
    result = planned(planner, "check the weather in Paris on September 5, 2023 at 15:30")
    assert steps_of(result.blueprint) == [
        ("weather.get", {"city": "Paris", "date": "2023-09-05"}, [])
    ]
    assert result.question is None


def test_an_environment_said_with_a_capital_is_still_that_environment(planner):
    # fill_params gives the enum param the entity "Production"; validation refuses it and the
    # planner asks for an environment the request already named
    result = planned(planner, "deploy the Billing service to Production")
    assert steps_of(result.blueprint) == [
        ("deploy.service", {"service": "Billing", "environment": "production"}, [])
    ]
    assert result.question is None


# ------------------------------------------------------------------------------ exemplars


REMINDER_BLUEPRINT: dict[str, Any] = {
    "name": "launch_reminder",
    "steps": [
        {
            "id": "event",
            "tool": "calendar.create_event",
            "params": {"title": "Launch review", "date": "2023-08-01", "time": "10:00"},
        },
        {
            "id": "text",
            "tool": "sms.send",
            "params": {
                "phone_number": "555-123-4567",
                "message": "Launch review on 2023-08-01 at 10:00",
            },
            "depends_on": ["event"],
        },
    ],
}
REMINDER_REQUEST = (
    "put the launch review on my calendar for August 1, 2023 at 10:00 "
    "and text 555-123-4567 about it"
)
NEW_REQUEST = (
    "put the launch review on my calendar for September 5, 2023 at 15:30 "
    "and text 555-987-6543 about it"
)


def exemplar(blueprint: dict[str, Any], exemplar_id: int = 7) -> ExemplarInfo:
    return ExemplarInfo(
        id=exemplar_id,
        request=REMINDER_REQUEST,
        blueprint=blueprint,
        workflow_id=1,
        version_id=3,
        accepted_how="button",
        accepted_by="U123",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def hit(info: ExemplarInfo, similarity: float) -> ExemplarHit:
    return ExemplarHit(exemplar=info, similarity=similarity, score=0.03)


def test_a_nearly_identical_past_request_is_adapted_with_the_new_values(planner):
    info = exemplar(REMINDER_BLUEPRINT)
    result = planned(planner, NEW_REQUEST, exemplars=[hit(info, 0.95)])
    assert result.path is PlanPath.EXEMPLAR
    assert result.exemplar_ids == [7]
    assert result.confidence == pytest.approx(0.95)
    assert result.question is None
    assert steps_of(result.blueprint) == [
        (
            "calendar.create_event",
            {"title": "Launch review", "date": "2023-09-05", "time": "15:30"},
            [],
        ),
        (
            "sms.send",
            {"phone_number": "555-987-6543", "message": "Launch review on 2023-09-05 at 15:30"},
            ["event"],
        ),
    ]
    assert result.blueprint.name == "launch_reminder"
    assert result.blueprint.description == NEW_REQUEST
    assert "#7" in result.explanation
    # the stored exemplar is left as it was
    assert info.blueprint == REMINDER_BLUEPRINT
    assert "description" not in info.blueprint


def test_the_best_exemplar_is_adapted(planner):
    other = exemplar(
        {
            "name": "page",
            "steps": [
                {
                    "id": "p",
                    "tool": "pagerduty.page",
                    "params": {"service": "Billing", "message": "down"},
                }
            ],
        },
        exemplar_id=8,
    )
    best = exemplar(REMINDER_BLUEPRINT, exemplar_id=9)
    result = planned(planner, NEW_REQUEST, exemplars=[hit(other, 0.94), hit(best, 0.97)])
    assert result.path is PlanPath.EXEMPLAR
    assert result.exemplar_ids == [9]


def test_a_less_similar_exemplar_is_not_adapted(planner):
    result = planned(
        planner,
        "send a text to 555-987-6543 saying the launch moved",
        exemplars=[hit(exemplar(REMINDER_BLUEPRINT), 0.90)],
    )
    assert result.path is PlanPath.OFFLINE
    assert result.exemplar_ids == []


def test_an_exemplar_naming_an_unknown_tool_falls_back_to_the_clauses(planner):
    stale = exemplar(
        {
            "name": "old",
            "steps": [{"id": "t", "tool": "sms.legacy_send", "params": {"to": "555-123-4567"}}],
        }
    )
    result = planned(
        planner,
        "send a text to 555-987-6543 saying the launch moved",
        exemplars=[hit(stale, 0.97)],
    )
    assert result.path is PlanPath.OFFLINE
    assert result.exemplar_ids == []
    (step,) = result.blueprint.steps
    assert step.tool == "sms.send"
    assert step.params["phone_number"] == "555-987-6543"


@pytest.mark.parametrize(
    "request_text",
    [
        "page the on-call engineer about the Billing outage. Prior to that, check "
        "the health status of the Billing service",
        "Page the on-call engineer about the Billing outage. However, prior to the page, "
        "check the health status of the Billing service.",
        "Page the on-call engineer about the Billing outage. Before that page, I need the "
        "health status of the Billing service checked.",
    ],
)
def test_prior_to_that_puts_the_step_before_the_one_mentioned_before_it(planner, request_text):
    status, page = planned(planner, request_text).blueprint.steps
    assert (status.tool, page.tool) == ("status.check", "pagerduty.page")
    assert page.depends_on == [status.id]
    assert status.depends_on == []


def test_first_in_a_later_sentence_goes_first(planner):
    result = planned(
        planner, "Deploy the Billing service to staging, but first run the tests for repo Billing"
    )
    assert [s.tool for s in result.blueprint.steps] == ["ci.run_tests", "deploy.service"]


def test_a_step_runs_where_it_is_asked_for_not_where_the_scene_names_it(planner):
    result = planned(
        planner,
        "My Billing service is due for a deploy to staging. Could you run the tests for repo "
        "Billing and then deploy the service?",
    )
    tests, deploy = result.blueprint.steps
    assert (tests.tool, deploy.tool) == ("ci.run_tests", "deploy.service")
    assert deploy.depends_on == [tests.id]
    # the values still come from the clause that named them
    assert deploy.params == {"service": "Billing", "environment": "staging"}


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        (
            "I'm flying to Berlin on August 1, 2023. Could you check the weather there?",
            "weather.get",
            {"city": "Berlin", "date": "2023-08-01"},
        ),
        (
            "Our Kaizen repo has a failing build. Run the tests please.",
            "ci.run_tests",
            {"repo": "Kaizen"},
        ),
    ],
)
def test_values_said_while_setting_the_scene_fill_the_step_asked_for_next(
    planner, request_text, tool, params
):
    (step,) = planned(planner, request_text).blueprint.steps
    assert (step.tool, dict(step.params)) == (tool, params)


def test_a_phone_number_points_at_the_tool_wanting_one(planner):
    message = "send Dana a message that the build is green"
    assert [s.tool for s in planned(planner, message).blueprint.steps] == ["slack.post_message"]
    result = planned(planner, f"{message} at +1 415 555 0100")
    assert [s.tool for s in result.blueprint.steps] == ["sms.send"]
    assert result.blueprint.steps[0].params["phone_number"].replace(" ", "") == "+14155550100"


@pytest.mark.parametrize(
    ("second", "tool", "param", "address"),
    [
        (
            "Please share the deployment details with alice@example.com",
            "email.send",
            "email_address",
            "alice@example.com",
        ),
        (
            "Could you share the deployment status with #dev?",
            "slack.post_message",
            "channel",
            "#dev",
        ),
    ],
)
def test_an_address_the_clauses_tool_cannot_use_gets_a_step_that_reaches_it(
    planner, second, tool, param, address
):
    result = planned(planner, f"Deploy the Billing service to staging. {second}")
    steps = result.blueprint.steps
    assert steps[0].tool == "deploy.service"
    reach = steps[-1]
    assert (reach.tool, reach.params[param]) == (tool, address)
    assert reach.depends_on == [steps[-2].id]
    assert f"{tool} added: '{second.rstrip('?')}' gives " in result.explanation


PAYMENT_SPECS = [
    spec("pay_for_credit_card", "Pay for a specific credit card", credit_card="The card"),
    spec("daily_bill_payment", "Pay a specific bill", bill="The bill to pay, eg. water, phone"),
    spec(
        "send_sms",
        "Send an sms to a specific phone number",
        phone_number="The phone number to send the sms to",
        content="The content of the sms",
    ),
    spec("make_voice_call", "Make a voice call to a specific phone number", phone_number="To"),
]


def test_a_message_asked_for_at_an_address_is_sent_by_a_tool_that_can_say_it_there(
    tmp_path_factory,
):
    """ "a confirmation message on my phone" fits the bill payment best by its words (a phone
    bill), but asks for a message to a phone number: the tool that texts it, with the payment's
    outcome. It asks, too: "… would be helpful" is a request."""
    tools = ToolRegistry([SchemaTool(s) for s in PAYMENT_SPECS])
    payment_index = ToolIndex(tmp_path_factory.mktemp("payment-index"))
    payment_index.sync([entry_from_spec(s) for s in PAYMENT_SPECS])
    asked = "a confirmation message on my phone number +1-234-567-8910 would be helpful"
    by_words = payment_index.clause_scores([asked])[0]
    assert payment_index.names[int(np.argmax(by_words))] != "send_sms"
    result = planned(
        OfflinePlanner(payment_index, tools),
        f"Please pay my credit card. Once payment is done, {asked}.",
    )
    pay, sms = result.blueprint.steps
    assert (pay.tool, sms.tool) == ("pay_for_credit_card", "send_sms")
    assert sms.params == {
        "phone_number": "+1-234-567-8910",
        "content": "{{ steps." + pay.id + ".output }}",
    }
    assert sms.depends_on == [pay.id]


def test_a_confirmation_sent_after_a_step_is_that_steps_outcome(planner):
    result = planned(
        planner, "Deploy billing to production, then send a confirmation to ops@example.com"
    )
    deploy, email = result.blueprint.steps
    assert email.params["body"] == "{{ steps." + deploy.id + ".output }}"
    assert email.params["email_address"] == "ops@example.com"


def test_sending_something_to_an_address_is_done_by_the_tool_that_reaches_it(planner):
    """A clause fitting no tool by its words ("send a short incident report to my manager")
    that sends something to an address the request gives after a comma: the tool that can
    say it there; and a speaking tool that cannot reach the address given (a text message to
    #dev) gives way to the one that can."""
    result = planned(
        planner,
        "Roll back billing. After that, please send a short incident report to my manager, "
        "ops@example.com.",
    )
    rollback, email = result.blueprint.steps
    assert (rollback.tool, email.tool) == ("deploy.rollback", "email.send")
    assert email.params["email_address"] == "ops@example.com"
    assert email.params["body"] == "a short incident report"
    assert email.depends_on == [rollback.id]
    scale, post = planned(
        planner, "Scale checkout to 5 replicas and send the release notes to #dev"
    ).blueprint.steps
    assert (scale.tool, post.tool) == ("k8s.scale", "slack.post_message")
    assert post.params == {"channel": "#dev", "text": "the release notes"}


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        (
            "Can you send an SMS to +1 555 010 0100, letting them know 'The deploy will finish "
            "at noon.'?",
            "sms.send",
            {"phone_number": "+1 555 010 0100", "message": "The deploy will finish at noon."},
        ),
        (
            "Text +1 555 010 0100, saying 'I am running late today'",
            "sms.send",
            {"phone_number": "+1 555 010 0100", "message": "I am running late today"},
        ),
        # the quote is the page's message, not the name of a service
        (
            "Page the on-call, telling them 'billing is down again now'",
            "pagerduty.page",
            {"message": "billing is down again now"},
        ),
        # an email says it in its subject and its body
        (
            "email bo@example.com saying 'the deploy is done now'",
            "email.send",
            {
                "email_address": "bo@example.com",
                "subject": "the deploy is done now",
                "body": "the deploy is done now",
            },
        ),
    ],
)
def test_a_quoted_message_said_after_a_comma_is_what_the_step_sends(
    planner, request_text, tool, params
):
    (step,) = planned(planner, request_text).blueprint.steps
    assert step.tool == tool
    assert {name: step.params[name] for name in params} == params


def test_a_quoted_message_is_what_is_sent_even_when_it_confirms_the_step_before(planner):
    result = planned(
        planner,
        "Deploy billing to production, then text the confirmation to +1 555 010 0199 saying "
        "'Billing is live in production now'",
    )
    deploy, sms = result.blueprint.steps
    assert (deploy.tool, sms.tool) == ("deploy.service", "sms.send")
    assert sms.params == {
        "phone_number": "+1 555 010 0199",
        "message": "Billing is live in production now",
    }
    assert sms.depends_on == [deploy.id]


def test_the_step_reaching_an_address_stays_right_after_its_clauses_step(planner):
    result = planned(
        planner,
        "Run the tests for repo kaizen. But first, roll back the Billing service with a "
        "heads-up to alice@example.com",
    )
    rollback, email, tests = result.blueprint.steps
    assert [rollback.tool, email.tool, tests.tool] == [
        "deploy.rollback",
        "email.send",
        "ci.run_tests",
    ]
    assert email.params["email_address"] == "alice@example.com"
    assert (email.depends_on, tests.depends_on) == ([rollback.id], [email.id])


# ------------------------------------------------------------------------------ errands

ERRAND_SPECS = [
    spec(
        "food.order",
        "Order a specific food to be delivered to a specific location.",
        food="The food to order",
        location="Where to deliver it",
    ),
    spec(
        "package.deliver",
        "Deliver a specific package to a specific destination.",
        package="The package",
        destination="Where to deliver it",
    ),
    spec("shop.buy", "Buy a product from a website.", product="The product"),
    spec("library.borrow_online", "Borrow a book from a library online.", book="The book"),
    spec("doctor.see_online", "See a doctor online about an illness.", doctor="The doctor"),
]


@pytest.fixture(scope="module")
def errand_planner(tmp_path_factory: pytest.TempPathFactory) -> OfflinePlanner:
    tool_index = ToolIndex(tmp_path_factory.mktemp("errand-index"))
    tool_index.sync([entry_from_spec(s) for s in ERRAND_SPECS])
    return OfflinePlanner(
        tool_index, ToolRegistry([SchemaTool(s) for s in ERRAND_SPECS]), today=TODAY
    )


def test_an_event_after_once_is_no_step_but_a_success_is_a_gate(errand_planner, planner):
    """ "… once the books arrive?" says when: no library step (the question mark is the
    request's). "… once the tests pass" waits for a success: the tests run first."""
    result = planned(
        errand_planner, "Could you order a pizza to 12 Elm Street once the books arrive?"
    )
    assert [s.tool for s in result.blueprint.steps] == ["food.order"]
    result = planned(planner, "Could you deploy billing to production once the tests pass?")
    tests, deploy = result.blueprint.steps
    assert (tests.tool, deploy.tool) == ("ci.run_tests", "deploy.service")
    assert deploy.depends_on == [tests.id]


def test_a_clause_saying_more_about_the_step_before_is_part_of_it(errand_planner):
    # ordering food already delivers it: "have it delivered" is not a second errand
    result = planned(errand_planner, "Order a pizza and have it delivered to 12 Elm Street")
    assert [(s.tool, s.params.get("location")) for s in result.blueprint.steps] == [
        ("food.order", "12 Elm Street")
    ]


@pytest.mark.parametrize(
    ("request_text", "tools"),
    [
        # buying does not deliver: the delivery is a step of its own
        (
            "Buy a laptop on the web and have it delivered to 12 Elm Street",
            ["shop.buy", "package.deliver"],
        ),
        # "online" is in both tools' names: it says nothing about what the clause adds
        (
            "Borrow 'Dune' from the library online. Then contact Dr. Smith online about it",
            ["library.borrow_online", "doctor.see_online"],
        ),
    ],
)
def test_a_clause_asking_for_what_the_step_before_does_not_do_is_its_own_step(
    errand_planner, request_text, tools
):
    assert [s.tool for s in planned(errand_planner, request_text).blueprint.steps] == tools


# ------------------------------------------------------------------------------ built-in tools


@pytest.fixture(scope="module")
def file_planner(tmp_path_factory: pytest.TempPathFactory) -> OfflinePlanner:
    tools = builtin_registry(BuiltinToolsConfig(workspace=tmp_path_factory.mktemp("workspace")))
    file_tools = ToolRegistry([tools.get(name) for name in ("file.read", "file.write")])
    tool_index = ToolIndex(tmp_path_factory.mktemp("file-index"))
    tool_index.sync([entry_from_spec(tool.spec) for tool in file_tools])
    return OfflinePlanner(tool_index, file_tools, today=TODAY)


def test_write_then_read_the_same_path_guesses_no_encoding(file_planner):
    result = planned(file_planner, "write 'hello' to notes/a.txt then read notes/a.txt")
    assert steps_of(result.blueprint) == [
        ("file.write", {"path": "notes/a.txt", "content": "hello"}, []),
        ("file.read", {"path": "notes/a.txt"}, ["write"]),
    ]
    assert result.question is None


def test_a_value_the_tool_refuses_is_asked_for_and_the_question_says_why(file_planner):
    result = planned(file_planner, "read /etc/passwd")
    assert result.blueprint is not None
    (step,) = result.blueprint.steps
    assert step.params["path"] == "{{ inputs.read_path }}"
    assert result.question is not None
    assert "'/etc/passwd' was refused" in result.question
    assert "relative to the workspace" in result.question


def test_an_idiom_asks_for_nothing_its_words_name(planner):
    """Feeling "under the weather" asks for no forecast: the step is the message."""
    result = planned(
        planner, "I'm feeling under the weather today. Please text +1 555 010 0199 that I'm out"
    )
    assert [step.tool for step in result.blueprint.steps] == ["sms.send"]


def test_the_question_for_a_request_no_tool_fits_names_the_closest_tools(planner):
    """Without a retrieval from the caller, the planner names the closest tools itself."""
    result = planner.plan("what a lovely morning for a walk in the park")
    assert result.blueprint is None
    named = result.question.rsplit("closest tools: ", 1)[1].rstrip(")").split(", ")
    assert len(named) == 3
    assert set(named) <= {spec.name for spec in SPECS}


@pytest.mark.parametrize(
    ("request_text", "tool", "param", "message"),
    [
        (
            "Text +1 555 010 0199 'Deploy the api to production and page the on-call now'",
            "sms.send",
            "message",
            "Deploy the api to production and page the on-call now",
        ),
        (
            "Post 'the deploy of the api failed, rolling back' to #ops",
            "slack.post_message",
            "text",
            "the deploy of the api failed, rolling back",
        ),
    ],
)
def test_a_quoted_message_is_what_to_write_not_steps_to_run(
    planner, request_text, tool, param, message
):
    """The message's words (deploy, page, roll back) name tools, but the request asks for
    one message: no deploy, page or rollback step."""
    (step,) = planned(planner, request_text).blueprint.steps
    assert step.tool == tool
    assert step.params[param] == message


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        (
            "email alice@example.com saying that the api deploy to staging is done",
            "email.send",
            {"email_address": "alice@example.com", "subject": "the api deploy to staging is done"},
        ),
        (
            "send Dana a message that the build is green",
            "slack.post_message",
            {"text": "the build is green"},
        ),
        (
            "let #ops know that the api is down since noon",
            "slack.post_message",
            {"channel": "#ops", "text": "the api is down since noon"},
        ),
    ],
)
def test_a_reported_message_is_what_to_write_not_a_step_to_run(planner, request_text, tool, params):
    """A message reported with "… that …" is what to write: no deploy step, and the
    message is the step's text."""
    (step,) = planned(planner, request_text).blueprint.steps
    assert step.tool == tool
    assert {name: step.params[name] for name in params} == params


def test_a_timed_reminder_is_an_event_whose_title_is_what_to_do_not_that_step(planner):
    """ "remind me … to review the PR" asks for a reminder: reviewing is what it says. The
    catalog's pull-request tool fits "review the PR" best; it must not run."""
    (step,) = planned(planner, "remind me tomorrow at 9am to review the PR").blueprint.steps
    assert step.tool == "calendar.create_event"
    assert step.params == {"title": "review the PR", "date": "2024-03-11", "time": "9am"}
    steps = planned(
        planner, "deploy billing to staging, then remind me at 5pm to check the deploy"
    ).blueprint.steps
    assert [s.tool for s in steps] == ["deploy.service", "calendar.create_event"]
    assert steps[1].params["title"] == "check the deploy"
    assert steps[1].params["time"] == "5pm"


def test_being_at_a_meeting_asks_for_no_meeting_step(planner):
    """ "I'm at a meeting …" states where the speaker is: the calendar tool fits it (above
    the scene threshold) but it asks for no event, unless the next clause asks about it."""
    scene = "I'm at a meeting in the calendar until 3 pm."
    steps = planned(planner, f"{scene} Could you order a cab to 12 Elm Street?").blueprint.steps
    assert [s.tool for s in steps] == ["taxi.order"]
    steps = planned(planner, f"{scene} Could you put it in?").blueprint.steps
    assert [s.tool for s in steps] == ["calendar.create_event"]


def test_a_long_quoted_message_is_no_channel(planner):
    (step,) = planned(planner, "post 'the build is green on main' to slack").blueprint.steps
    assert step.tool == "slack.post_message"
    assert step.params["text"] == "the build is green on main"
    assert step.params["channel"] == "{{ inputs.post_message_channel }}"


def test_a_quoted_address_of_many_words_is_still_a_place(planner):
    (step,) = planned(planner, "order a cab to '12 Oak Road, Springfield'").blueprint.steps
    assert (step.tool, step.params["address"]) == ("taxi.order", "12 Oak Road, Springfield")


def test_a_reported_message_ends_where_the_next_step_begins(planner):
    steps = planned(
        planner, "let #ops know that the deploy of the api failed, then page the on-call"
    ).blueprint.steps
    assert [s.tool for s in steps] == ["slack.post_message", "pagerduty.page"]
    assert steps[0].params["text"] == "the deploy of the api failed"


def test_a_weak_ask_for_the_tool_the_scene_just_named_is_a_step(index):
    """Each clause alone is below its threshold, but the scene and the ask after it point at
    the same tool: together they are enough. (The thresholds are raised so that this
    catalog's scores fall between them.)"""
    strict = OfflineSettings(accept=0.5, accept_scene=0.6, accept_supported=0.4, support=0.45)
    supported = OfflinePlanner(index, registry(), today=TODAY, settings=strict)
    unsupported = OfflinePlanner(
        index, registry(), today=TODAY, settings=replace(strict, accept_supported=0.5)
    )
    scene = "I'm taking a cab to the airport tonight."
    ask = "Could you book me a ride to 5 Main Street?"
    assert steps_of(planned(supported, f"{scene} {ask}").blueprint) == [
        ("taxi.order", {"address": "5 Main Street"}, [])
    ]
    assert planned(unsupported, f"{scene} {ask}").blueprint is None
    # a scene that names another tool lends no support
    other = "The checkout logs from last night are what I'm after."
    assert planned(supported, f"{other} {ask}").blueprint is None


@pytest.mark.parametrize(
    ("request_text", "tools"),
    [
        # the deploy (0.72 alone) and the rollback (0.56) are events to wait for, not to run
        (
            "Once the deploy of billing to production is finished, post 'live' to #dev.",
            ["slack.post_message"],
        ),
        ("After the rollback of auth, check the status of auth.", ["status.check"]),
        # "is done" reads like a state too; the time word says it is an event to wait for
        (
            "Once the rollback is done, post to #dev that billing is back to normal",
            ["slack.post_message"],
        ),
        # asked for, then waited for: one step each, in order
        (
            "Roll back auth. After the rollback of auth, check the status of auth.",
            ["deploy.rollback", "status.check"],
        ),
    ],
)
def test_a_time_condition_runs_nothing_of_its_own(planner, request_text, tools):
    steps = planned(planner, request_text).blueprint.steps
    assert [s.tool for s in steps] == tools


def test_a_step_named_in_an_overview_runs_where_the_steps_after_first_put_it(planner):
    """'… Could you help me with this? First, …' starts the steps in order: what the overview
    named runs where a later clause asks for it again, not where the overview named it."""
    result = planned(
        planner,
        "I have a message for #dev to post and a deploy to do. Could you help me with this? "
        "First, run the tests for repo auth. Then deploy the auth service to staging. "
        "Lastly, post to #dev that auth is live on staging.",
    )
    assert steps_of(result.blueprint) == [
        ("ci.run_tests", {"repo": "auth"}, []),
        ("deploy.service", {"service": "auth", "environment": "staging"}, ["run_tests"]),
        ("slack.post_message", {"channel": "#dev", "text": "auth is live on staging"}, ["service"]),
    ]


def test_each_reported_message_is_a_post_of_its_own_words(planner):
    """'that …' after 'post' is what to write, not a reference back to the step before: the
    second post says what it was told to, not the test run's output."""
    result = planned(
        planner,
        "Post to #dev that the deploy of auth starts. Run the tests for repo auth. "
        "Then post to #dev that the tests of auth passed.",
    )
    assert steps_of(result.blueprint) == [
        ("slack.post_message", {"channel": "#dev", "text": "the deploy of auth starts"}, []),
        ("ci.run_tests", {"repo": "auth"}, ["post_message"]),
        (
            "slack.post_message",
            {"channel": "#dev", "text": "the tests of auth passed"},
            ["run_tests"],
        ),
    ]


@pytest.mark.parametrize(
    ("request_text", "tools"),
    [
        (
            "Don't deploy billing to production today. Roll back billing instead.",
            ["deploy.rollback"],
        ),
        (
            "Please don't page the on-call. Post to #ops that the api is degraded.",
            ["slack.post_message"],
        ),
        ("I won't be able to check the status of auth myself. Could you do it?", ["status.check"]),
        ("I don't need the staging deploy of billing anymore, roll it back", ["deploy.rollback"]),
    ],
)
def test_what_the_request_says_not_to_do_is_no_step(planner, request_text, tools):
    assert [s.tool for s in planned(planner, request_text).blueprint.steps] == tools


def test_a_step_said_as_a_need_runs_where_a_later_request_asks_for_it(planner):
    """'I need to …' names the step; the request after it says when it runs."""
    steps = planned(
        planner,
        "I need to post the release notes to #dev. "
        "Can you run the tests for repo kaizen and then post them to #dev?",
    ).blueprint.steps
    assert [s.tool for s in steps] == ["ci.run_tests", "slack.post_message"]
    # said as a request first, it keeps its place
    steps = planned(
        planner,
        "Could you post the release notes to #dev? "
        "Run the tests for repo kaizen. I need to post them to #dev.",
    ).blueprint.steps
    assert [s.tool for s in steps] == ["slack.post_message", "ci.run_tests"]


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        (
            "deploy billing to production",
            "deploy.service",
            {"service": "billing", "environment": "production"},
        ),
        (
            "Roll back billing, then post to #dev that it is rolled back",
            "deploy.rollback",
            {"service": "billing"},
        ),
        ("scale checkout to 12 replicas", "k8s.scale", {"deployment": "checkout", "replicas": 12}),
    ],
)
def test_a_chat_ops_command_names_what_it_acts_on_right_after_the_verb(
    planner, request_text, tool, params
):
    step = planned(planner, request_text).blueprint.steps[0]
    assert (step.tool, dict(step.params)) == (tool, params)


@pytest.mark.parametrize(
    ("request_text", "tools", "told"),
    [
        (
            "Open a PR for repo kaizen, then tell #dev",
            ["github.open_pull_request", "slack.post_message"],
            "#dev",
        ),
        (
            "Roll back billing, then let the folks in #ops know",
            ["deploy.rollback", "slack.post_message"],
            "#ops",
        ),
        (
            "Deploy auth to staging and notify alice@example.com",
            ["deploy.service", "email.send"],
            "alice@example.com",
        ),
    ],
)
def test_telling_an_address_is_a_message_there_about_the_step_before(
    planner, request_text, tools, told
):
    """ "tell #dev" alone fits no tool well; the address and the word for telling say it is a
    message to #dev, and what to tell is what the step before did."""
    first, message = planned(planner, request_text).blueprint.steps
    assert [first.tool, message.tool] == tools
    assert told in message.params.values()
    assert "{{ steps." + first.id + ".output }}" in message.params.values()


def test_the_link_to_what_the_step_before_made_is_what_to_post(planner):
    ticket, post = planned(
        planner, "file a ticket about the login bug and post the link in #dev"
    ).blueprint.steps
    assert ticket.params == {"summary": "the login bug"}
    assert post.params == {"channel": "#dev", "text": "{{ steps." + ticket.id + ".output }}"}


def test_what_the_step_before_found_is_what_to_post(planner):
    search, post = planned(
        planner, "search the logs for 'connection refused' and post what you find to #ops"
    ).blueprint.steps
    assert search.params == {"query": "connection refused"}
    assert post.params == {"channel": "#ops", "text": "{{ steps." + search.id + ".output }}"}


@pytest.mark.parametrize(
    ("request_text", "params"),
    [
        ("open a PR on kaizen called 'Bump deps'", {"repo": "kaizen", "title": "Bump deps"}),
        ("open a PR called fix-login on kaizen", {"repo": "kaizen", "title": "fix-login"}),
        ("open a PR titled 'Bump deps' on kaizen", {"repo": "kaizen", "title": "Bump deps"}),
    ],
)
def test_what_a_thing_is_called_is_its_title_and_where_is_its_repo(planner, request_text, params):
    (step,) = planned(planner, request_text).blueprint.steps
    assert step.params == params


def test_a_lower_case_name_after_called_is_the_title(planner):
    (event,) = planned(
        planner, "create a calendar event called standup tomorrow at 9am"
    ).blueprint.steps
    assert event.params == {"title": "standup", "date": "2024-03-11", "time": "9am"}


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        ("what issues are open on kaizen?", "github.list_issues", {"repo": "kaizen"}),
        (
            "deploy billing in staging",
            "deploy.service",
            {"service": "billing", "environment": "staging"},
        ),
        ("roll back billing if it's unhealthy", "deploy.rollback", {"service": "billing"}),
        ("check billing's status", "status.check", {"service": "billing"}),
        # an option of a param names no service
        (
            "deploy in staging",
            "deploy.service",
            {"service": "{{ inputs.service_service }}", "environment": "staging"},
        ),
    ],
)
def test_a_name_the_clause_ends_on_is_what_the_step_acts_on(planner, request_text, tool, params):
    (step,) = planned(planner, request_text).blueprint.steps
    assert (step.tool, step.params) == (tool, params)


def test_a_word_of_the_tools_own_text_is_no_name_it_acts_on(planner):
    """ "on-call" is who a page goes to ("Page the on-call engineer …"), not the service."""
    (page,) = planned(planner, "page on-call for auth: login is broken").blueprint.steps
    assert page.params == {"service": "auth", "message": "login is broken"}


def test_the_initials_of_the_tools_name_are_no_value(planner):
    """'PR' in 'Open a PR' is the pull request itself: neither its title nor its repo."""
    step = planned(planner, "Open a PR for repo kaizen").blueprint.steps[0]
    assert step.params == {"repo": "kaizen", "title": "{{ inputs.open_pull_request_title }}"}


@pytest.mark.parametrize(
    ("request_text", "tools"),
    [
        (
            "The checkout service is down in production. Could you roll it back?",
            ["deploy.rollback"],
        ),
        (
            "Our staging cluster looks unhealthy since the deploy. Can you check auth's status?",
            ["status.check"],
        ),
    ],
)
def test_a_clause_saying_how_something_is_asks_for_no_step(planner, request_text, tools):
    steps = planned(planner, request_text).blueprint.steps
    assert [s.tool for s in steps] == tools


def test_a_message_after_a_colon_is_what_to_post_not_a_step(planner):
    """'deploy is done' after the colon is what to write: no deploy."""
    (step,) = planned(planner, "post to #dev: deploy is done").blueprint.steps
    assert (step.tool, dict(step.params)) == (
        "slack.post_message",
        {"channel": "#dev", "text": "deploy is done"},
    )


def test_a_step_that_must_succeed_first_is_run_first(planner):
    """'If the tests pass, deploy' gates the deploy on a test run: the tests are a step (the
    deploy depends on it, so it runs only after the tests succeed)."""
    tests, deploy = planned(
        planner, "If the tests for repo kaizen pass, deploy kaizen to production"
    ).blueprint.steps
    assert (tests.tool, dict(tests.params)) == ("ci.run_tests", {"repo": "kaizen"})
    assert deploy.tool == "deploy.service"
    assert deploy.depends_on == [tests.id]


@pytest.mark.parametrize(
    ("request_text", "repo"),
    [
        ("deploy billing to staging if the tests on kaizen pass", "kaizen"),
        ("deploy billing to staging when the tests for repo kaizen pass", "kaizen"),
        ("once the tests on kaizen pass, deploy billing to staging", "kaizen"),
        # "the build" is what to run, not a repo named "build": the repo is asked for
        ("once the build is green, deploy billing to staging", None),
    ],
)
def test_a_success_waited_on_runs_first_with_what_it_names(planner, request_text, repo):
    result = planned(planner, request_text)
    tests, deploy = result.blueprint.steps
    assert tests.tool == "ci.run_tests"
    assert (deploy.tool, dict(deploy.params)) == (
        "deploy.service",
        {"service": "billing", "environment": "staging"},
    )
    assert deploy.depends_on == [tests.id]
    if repo is None:
        assert tests.params["repo"] == "{{ inputs.run_tests_repo }}"
    else:
        assert tests.params["repo"] == repo


def test_a_success_of_a_step_asked_before_gates_the_step_after_it(planner):
    """ "run the tests on kaizen and deploy billing when they pass": the deploy waits for the
    test run asked for before it; "they pass" is no second run."""
    tests, deploy = planned(
        planner, "run the tests on kaizen and deploy billing when they pass"
    ).blueprint.steps
    assert (tests.tool, tests.params["repo"]) == ("ci.run_tests", "kaizen")
    assert (deploy.tool, deploy.params["service"]) == ("deploy.service", "billing")
    assert deploy.depends_on == [tests.id]


def test_a_success_condition_without_a_comma_still_gates_the_step_after_it(planner):
    """'if they pass deploy kaizen' (no comma) is the condition and the deploy, not one
    clause that asks for nothing."""
    tests, deploy = planned(
        planner, "run the tests for repo kaizen; if they pass deploy kaizen"
    ).blueprint.steps
    assert tests.tool == "ci.run_tests"
    assert (deploy.tool, deploy.params["service"]) == ("deploy.service", "kaizen")
    assert deploy.depends_on == [tests.id]


def test_the_same_request_for_a_second_place_is_a_second_call_sharing_the_rest(planner):
    """'… in Berlin and in Paris' is two weather calls; the date (not said) is asked once."""
    result = planned(planner, "check the weather in Berlin and in Paris")
    berlin, paris = result.blueprint.steps
    assert (berlin.tool, paris.tool) == ("weather.get", "weather.get")
    assert (berlin.params["city"], paris.params["city"]) == ("Berlin", "Paris")
    assert paris.params["date"] == berlin.params["date"]
    assert list(result.blueprint.inputs) == ["get_date"]


def test_a_phrase_saying_in_what_role_is_no_step(planner):
    """'As a rollback drill' says what the next step is for; it asks for no rollback."""
    steps = planned(
        planner, "As a rollback drill for billing, run the tests for repo kaizen"
    ).blueprint.steps
    assert [s.tool for s in steps] == ["ci.run_tests"]


@pytest.mark.parametrize(
    ("request_text", "tool", "params"),
    [
        (
            "Can you open a PR on kaizen titled 'Bump deps'",
            "github.open_pull_request",
            {"repo": "kaizen", "title": "Bump deps"},
        ),
        ("pls rollback checkout in prod asap", "deploy.rollback", {"service": "checkout"}),
        (
            "deploy billing to prod",
            "deploy.service",
            {"service": "billing", "environment": "production"},
        ),
    ],
)
def test_chat_shorthand_is_read_as_written_out(planner, request_text, tool, params):
    """'PR' is a pull request, 'prod' production, 'pls' please."""
    (step,) = planned(planner, request_text).blueprint.steps
    assert (step.tool, dict(step.params)) == (tool, params)


def test_what_a_statement_says_is_broken_is_what_to_act_on(planner):
    """'Billing is throwing 500s' describes (no step of its own), and names the service the
    rollback asked for right after it acts on."""
    (step,) = planned(
        planner, "Billing is throwing 500s since 10am. Please roll it back."
    ).blueprint.steps
    assert (step.tool, dict(step.params)) == ("deploy.rollback", {"service": "Billing"})


@pytest.mark.parametrize(
    "request_text",
    [
        "Deploy billing to staging. Then deploy billing to production.",
        "deploy billing to staging, then to production",
    ],
)
def test_the_same_tool_with_another_option_is_a_second_call(planner, request_text):
    """A staged rollout is two deploys: the environment each clause names tells them apart."""
    staging, production = planned(planner, request_text).blueprint.steps
    assert (staging.tool, dict(staging.params)) == (
        "deploy.service",
        {"service": "billing", "environment": "staging"},
    )
    assert (production.tool, dict(production.params)) == (
        "deploy.service",
        {"service": "billing", "environment": "production"},
    )
    assert production.depends_on == [staging.id]


def test_the_same_tool_with_the_same_option_is_still_one_step(planner):
    steps = planned(
        planner, "Deploy billing to staging. Once it's green, deploy it to staging again."
    ).blueprint.steps
    assert [s.tool for s in steps] == ["deploy.service"]


def test_a_name_before_a_colon_is_the_object_and_what_follows_is_the_message(planner):
    (step,) = planned(planner, "page the on-call for billing: database is down").blueprint.steps
    assert (step.tool, dict(step.params)) == (
        "pagerduty.page",
        {"service": "billing", "message": "database is down"},
    )


def test_a_name_after_for_and_what_it_is_about_go_to_their_own_params(planner):
    result = planned(planner, "page the on-call for billing about the failed deploy")
    (step,) = result.blueprint.steps
    assert (step.tool, dict(step.params)) == (
        "pagerduty.page",
        {"service": "billing", "message": "the failed deploy"},
    )
    assert result.question is None


def test_a_need_stated_with_the_name_and_a_time_word_gets_its_name(planner):
    result = planned(
        planner, "I think we will need a rollback of billing soon. Please post the notes to #dev"
    )
    rollback, post = result.blueprint.steps
    assert (rollback.tool, dict(rollback.params)) == ("deploy.rollback", {"service": "billing"})
    assert (post.tool, post.params["channel"]) == ("slack.post_message", "#dev")
    assert result.question is None


def test_what_follows_the_address_is_what_to_send(planner):
    (step,) = planned(planner, "email ops@example.com the summary of the incident").blueprint.steps
    assert step.params["email_address"] == "ops@example.com"
    assert step.params["body"] == "the summary of the incident"


def test_a_clause_naming_only_its_tool_and_a_value_gives_no_text_so_it_is_asked_for(planner):
    """'page the on-call for billing' says which service, not what to say: the message is a
    question, not the clause's own words."""
    result = planned(planner, "page the on-call for billing")
    (step,) = result.blueprint.steps
    assert step.params["service"] == "billing"
    assert step.params["message"] == "{{ inputs.page_message }}"
    assert "message (for pagerduty.page)" in (result.question or "")


def test_an_address_alone_gives_no_text_to_send_so_it_is_asked_for(planner):
    """'email ops@example.com' says whom, not what: the body is a question, not the words
    'email ops@example.com'."""
    result = planned(planner, "email ops@example.com")
    (step,) = result.blueprint.steps
    assert step.params["body"] == "{{ inputs.send_body }}"
    assert "body (for email.send)" in (result.question or "")


def test_sending_to_an_address_after_a_step_sends_what_the_step_did(planner):
    tests, post = planned(
        planner, "run the tests for repo kaizen, then post to #dev"
    ).blueprint.steps
    assert (post.tool, dict(post.params)) == (
        "slack.post_message",
        {"channel": "#dev", "text": "{{ steps." + tests.id + ".output }}"},
    )


@pytest.mark.parametrize(
    ("request_text", "tool", "param"),
    [
        ("scale checkout to 5 replicas and then check its status", "status.check", "service"),
        ("deploy billing to staging, then roll it back", "deploy.rollback", "service"),
    ],
)
def test_a_pronoun_names_what_the_step_before_acted_on(planner, request_text, tool, param):
    first, then = planned(planner, request_text).blueprint.steps
    acted_on = next(iter(first.params.values()))
    assert (then.tool, then.params[param]) == (tool, acted_on)


@pytest.mark.parametrize(
    ("request_text", "tool", "service"),
    [
        ("tell #ops that billing is rolling back, then roll it back", "deploy.rollback", "billing"),
        (
            "text 555-123-4567 that the api keeps crashing, then page the on-call for it",
            "pagerduty.page",
            "api",
        ),
    ],
)
def test_a_pronoun_after_a_message_names_what_the_message_is_about(
    planner, request_text, tool, service
):
    """A step that only tells acts on what it tells about: "it" is that."""
    _, then = planned(planner, request_text).blueprint.steps
    assert (then.tool, then.params["service"]) == (tool, service)


@pytest.mark.parametrize("message", ["we are rolling back", "deploy is done", "tests are green"])
def test_a_pronoun_after_a_message_about_no_name_is_asked_for(planner, message):
    """ "we are rolling back" tells about nobody named, "deploy is done" about a task: the
    service is asked for."""
    result = planned(planner, f"post '{message}' to #ops, then roll it back")
    rollback = next(s for s in result.blueprint.steps if s.tool == "deploy.rollback")
    assert rollback.params["service"] == "{{ inputs.rollback_service }}"


def test_a_pronoun_does_not_stand_for_a_title_of_several_words(planner):
    """'its' after an event titled 'Team Retro' names no service: the service is asked for."""
    _, check = planned(
        planner,
        "create a calendar event titled 'Team Retro' on 2024-03-12 at 3pm, then check its status",
    ).blueprint.steps
    assert check.params["service"] == "{{ inputs.check_service }}"


def test_a_condition_on_a_state_without_a_comma_names_what_the_step_acts_on(planner):
    """'if billing is down page the on-call': the page is planned, for billing."""
    (step,) = planned(planner, "if billing is down page the on-call").blueprint.steps
    assert (step.tool, step.params["service"]) == ("pagerduty.page", "billing")


@pytest.mark.parametrize(
    ("request_text", "service", "message"),
    [
        ("If billing is down, page the on-call", "billing", "billing is down"),
        ("when auth's down page the on-call", "auth", "auth's down"),
        ("if billing keeps failing page the on-call", "billing", "billing keeps failing"),
    ],
)
def test_a_condition_on_a_state_is_what_the_page_says(planner, request_text, service, message):
    """The page says what the condition says is wrong, for the service it names."""
    (step,) = planned(planner, request_text).blueprint.steps
    assert step.tool == "pagerduty.page"
    assert step.params == {"service": service, "message": message}


def test_a_condition_is_the_text_of_a_step_that_names_only_its_tool(planner):
    (step,) = planned(planner, "if the build fails open a jira ticket").blueprint.steps
    assert (step.tool, step.params) == ("jira.create_issue", {"summary": "the build fails"})


def test_a_clause_naming_only_its_tool_leaves_the_text_to_ask_for(planner):
    """'page the on-call' says which tool, not what is wrong: the message is asked, not
    'page the on-call'; the page is for the service just rolled back."""
    result = planned(planner, "roll back billing and page the on-call")
    rollback, page = result.blueprint.steps
    assert rollback.params == {"service": "billing"}
    assert page.params == {"service": "billing", "message": "{{ inputs.page_message }}"}
    assert "page_message" in result.blueprint.inputs


@pytest.mark.parametrize(
    ("question", "tool"),
    [
        ("how is billing doing?", "status.check"),
        ("is payments down?", "status.check"),
        ("what's the p99 latency of checkout?", "metrics.query"),
    ],
)
def test_a_question_finds_the_tool_that_answers_it(index, question, tool):
    assert index.search(question, 1)[0].name == tool


def test_a_question_plans_the_tool_that_answers_it(planner):
    (check,) = planned(planner, "is the billing service up?").blueprint.steps
    assert (check.tool, check.params) == ("status.check", {"service": "billing"})
    (weather,) = planned(planner, "will it rain in Paris on Friday?").blueprint.steps
    assert weather.tool == "weather.get" and weather.params["city"] == "Paris"


@pytest.mark.parametrize(
    ("question", "service"),
    [("is payments down?", "payments"), ("is checkout healthy?", "checkout")],
)
def test_a_question_fitting_one_tool_plans_it_for_what_it_asks_about(planner, question, service):
    """A question is matched less closely than a request: one that fits one tool clearly
    better than any other plans it, to confirm when it fits loosely."""
    result = planned(planner, question)
    (check,) = result.blueprint.steps
    assert (check.tool, check.params) == ("status.check", {"service": service})


@pytest.mark.parametrize("question", ["who is on call?", "where is the office?"])
def test_a_question_fitting_two_tools_alike_plans_neither(planner, question):
    """ "who is on call?" fits checking a status about as well as paging the on-call, and
    answers to neither: a question back, with the closest tools."""
    result = planned(planner, question)
    assert result.blueprint is None
    assert "closest tools" in (result.question or "")


def test_an_unsaid_name_is_the_one_word_name_the_step_before_acted_on(planner):
    deploy, check = planned(
        planner, "deploy billing to staging, then check the status"
    ).blueprint.steps
    assert deploy.params == {"service": "billing", "environment": "staging"}
    assert (check.tool, check.params) == ("status.check", {"service": "billing"})


def test_an_unsaid_name_is_not_taken_from_a_step_on_a_proper_name(planner):
    """Only a one-word identifier carries over: 'the Billing service' may not be what the
    next step is about."""
    deploy, check = planned(
        planner, "deploy the Billing service to staging, then check the status"
    ).blueprint.steps
    assert deploy.params["service"] == "Billing"
    assert check.params == {"service": "{{ inputs.check_service }}"}


@pytest.mark.parametrize(
    ("request_text", "tool", "name", "text"),
    [
        ("create a ticket for the login bug", "jira.create_issue", "summary", "the login bug"),
        (
            "page the on-call about the failed deploy",
            "pagerduty.page",
            "message",
            "the failed deploy",
        ),
        (
            "when the release is out, post to #dev",
            "slack.post_message",
            "text",
            "the release is out",
        ),
    ],
)
def test_the_text_is_what_the_clause_says_beside_naming_the_tool(
    planner, request_text, tool, name, text
):
    (step,) = planned(planner, request_text).blueprint.steps
    assert (step.tool, step.params[name]) == (tool, text)


@pytest.mark.parametrize(
    "request_text",
    [
        "deploy kaizen to staging; once that's taken care of ping me on #dev",
        "deploy kaizen to staging. Once it is all sorted out post to #dev",
        # posted in a channel, and when, say no text of their own
        "deploy kaizen to staging and post in #dev",
        "deploy kaizen to staging and post in #dev when done",
        "deploy kaizen to staging and notify #dev when finished",
    ],
)
def test_a_step_after_it_is_done_with_no_comma_tells_what_the_step_before_did(
    planner, request_text
):
    deploy, post = planned(planner, request_text).blueprint.steps
    assert deploy.tool == "deploy.service"
    assert (post.tool, post.params) == (
        "slack.post_message",
        {"channel": "#dev", "text": "{{ steps." + deploy.id + ".output }}"},
    )
    assert post.depends_on == [deploy.id]


@pytest.mark.parametrize(
    "request_text",
    [
        "run the tests for repo kaizen, then email ops@x.io",
        "run the tests for repo kaizen, then notify ops via email ops@x.io",
        # what it sends only refers back: no subject of its own to ask for
        "run the tests for repo kaizen, then email the results to ops@x.io",
        "run the tests for repo kaizen and send them to ops@x.io",
    ],
)
def test_an_email_that_only_says_whom_to_tell_is_about_the_step_before(planner, request_text):
    """The body is the tests' output and the subject what was done, not the command's words
    (nor a question)."""
    result = planned(planner, request_text)
    tests, email = result.blueprint.steps
    assert email.params == {
        "email_address": "ops@x.io",
        "subject": "run the tests for repo kaizen",
        "body": "{{ steps." + tests.id + ".output }}",
    }
    assert result.question is None


def test_a_condition_on_an_event_names_no_object(planner):
    """'Once the standup is over' says when, not what to check: the service is asked."""
    (step,) = planned(planner, "Once the standup is over, check the status").blueprint.steps
    assert (step.tool, step.params) == ("status.check", {"service": "{{ inputs.check_service }}"})


def test_a_step_under_a_condition_after_a_check_runs_after_it(planner):
    check, rollback = planned(
        planner, "check the status of checkout; if it's unhealthy roll it back"
    ).blueprint.steps
    assert (check.tool, rollback.tool) == ("status.check", "deploy.rollback")
    assert rollback.params["service"] == "checkout"
    assert rollback.depends_on == [check.id]


@pytest.mark.parametrize(
    ("request_text", "tool", "param", "names", "shared"),
    [
        (
            "deploy billing and auth to staging",
            "deploy.service",
            "service",
            ["billing", "auth"],
            {"environment": "staging"},
        ),
        (
            "check the status of billing and auth",
            "status.check",
            "service",
            ["billing", "auth"],
            {},
        ),
        (
            "scale checkout and payments to 5 replicas",
            "k8s.scale",
            "deployment",
            ["checkout", "payments"],
            {"replicas": 5},
        ),
        ("deploy billing and deploy auth", "deploy.service", "service", ["billing", "auth"], {}),
    ],
)
def test_one_request_for_two_names_is_a_call_for_each(
    planner, request_text, tool, param, names, shared
):
    steps = planned(planner, request_text).blueprint.steps
    assert [s.tool for s in steps] == [tool, tool]
    assert [s.params[param] for s in steps] == names
    for step in steps:
        assert {k: step.params[k] for k in shared} == shared


@pytest.mark.parametrize(
    ("request_text", "tools"),
    [
        # what follows "and" is another request, not another name for the same one
        (
            "deploy billing and then run the tests for repo kaizen",
            ["deploy.service", "ci.run_tests"],
        ),
        ("roll back billing and page the on-call", ["deploy.rollback", "pagerduty.page"]),
    ],
)
def test_another_request_after_and_is_not_another_name(planner, request_text, tools):
    assert [s.tool for s in planned(planner, request_text).blueprint.steps] == tools
