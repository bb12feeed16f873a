"""Filling a step's params from the request: the right kind of value for each param."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from knowledge.planner.extract import find_mentions
from knowledge.planner.params import (
    FilledParams,
    Passage,
    fill_params,
    needed_addresses,
    news_about,
    wanted_kinds,
)
from knowledge.search.lexical import words

TODAY = date(2024, 3, 10)
ENVIRONMENT = {"type": "string", "enum": ["staging", "production"]}


def schema(required: list[str] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def text_param(description: str = "") -> dict[str, Any]:
    return {"type": "string", "description": description}


def fill(
    params_schema: dict[str, Any],
    request: str,
    clause: str | None = None,
    used: set[int] | None = None,
    verbs: tuple[str, ...] = (),
    tool_words: frozenset[str] = frozenset(),
) -> FilledParams:
    """Fill from ``clause`` (the whole request when not given) within ``request``."""
    clause = clause or request
    start = request.index(clause)
    mentions = find_mentions(request, today=TODAY)
    return fill_params(
        params_schema,
        clause,
        (start, start + len(clause)),
        mentions,
        used or set(),
        verbs=verbs,
        tool_words=tool_words,
    )


# ------------------------------------------------------------------------------ kinds


@pytest.mark.parametrize(
    ("name", "prop", "first"),
    [
        ("phone_number", text_param(), "phone"),
        ("mobile", text_param(), "phone"),
        ("email_address", text_param(), "email"),
        ("recipient", {"type": "string", "format": "email"}, "email"),
        ("webhook_url", text_param(), "url"),
        ("channel", text_param(), "channel"),
        ("assignee", text_param(), "mention"),
        ("start_time", text_param(), "time"),
        ("date", text_param(), "date"),
        ("when", {"type": "string", "format": "date"}, "date"),
        ("due", text_param(), "date"),
        ("amount", {"type": "number"}, "amount"),
        ("replicas", {"type": "integer"}, "number"),
        ("attachment", text_param(), "file"),
        ("city", text_param(), "address"),
        ("destination", text_param(), "address"),
        ("title", text_param(), "quoted"),
        ("repo", text_param(), "quoted"),
        ("target", text_param("the channel to post in"), "channel"),
        ("to", text_param(), "address"),
        ("from_city", text_param(), "address"),
        # a free-text name says more than its description: text, not an address
        ("body", text_param("The email's text"), "quoted"),
        ("content", text_param("The content of the email"), "quoted"),
        ("message", text_param("The SMS to send"), "quoted"),
    ],
)
def test_each_param_wants_the_kind_of_value_its_name_says(name, prop, first):
    assert wanted_kinds(name, prop)[0] == first


@pytest.mark.parametrize(
    "description", ["The food to order", "The doctor to see", "The website to buy it from"]
)
def test_to_and_from_in_a_description_do_not_make_a_place(description):
    """Nearly every description has a "to": only as a param's name does it mean a place."""
    assert "address" not in wanted_kinds("food", text_param(description))


def test_a_kind_named_only_among_a_descriptions_examples_is_not_what_the_param_wants():
    """A bill may be a phone bill; the param still wants no phone number."""
    bill = text_param("The bill to pay, eg. electricity, water, gas, phone etc.")
    assert "phone" not in wanted_kinds("bill", bill)
    assert wanted_kinds("number", text_param("The phone number to text, eg. +1 555 0100"))[0] == (
        "phone"
    )


def test_a_value_goes_to_the_param_wanting_its_kind_first_not_one_making_do_with_it():
    """A place param takes a quoted name when nothing else fits; a quoted file name is still
    the package, whatever order the params are filled in."""
    parcel = schema(package=text_param("What to deliver"), destination=text_param("Where to"))
    filled = fill(parcel, "ship 'photo.jpg' to my sister")
    assert filled.params == {"package": "photo.jpg"}
    assert filled.missing == ["destination"]
    assert fill(parcel, "ship 'photo.jpg' to 12 Elm Street").params == {
        "package": "photo.jpg",
        "destination": "12 Elm Street",
    }


def test_the_addresses_a_tool_needs_are_its_required_phone_numbers_and_email_addresses():
    assert needed_addresses(schema(email_address=text_param(), body=text_param())) == {"email"}
    assert needed_addresses(schema(phone_number=text_param(), message=text_param())) == {"phone"}
    assert needed_addresses(schema(required=["body"], email_address=text_param())) == set()
    with_default = {"type": "string", "default": "ops@example.com"}
    assert needed_addresses(schema(email_address=with_default)) == set()
    # a channel has a default of sorts (the one the request came from): not needed
    assert needed_addresses(schema(channel=text_param(), text=text_param())) == set()


def test_a_boolean_param_wants_no_mention():
    assert wanted_kinds("dry_run", {"type": "boolean"}) == ()


def test_a_numeric_param_only_wants_numeric_kinds():
    kinds = wanted_kinds("phone_count", {"type": "integer"})
    assert kinds and set(kinds) <= {"number", "amount", "year", "phone"}


def test_a_nullable_type_list_is_read_as_its_type():
    """JSON Schema allows ``"type": ["integer", "null"]`` (OpenAPI and MCP tools use it)."""
    assert wanted_kinds("replicas", {"type": ["integer", "null"]}) == wanted_kinds(
        "replicas", {"type": "integer"}
    )
    assert wanted_kinds("dry_run", {"type": ["null", "boolean"]}) == ()
    schema = {"type": "object", "properties": {"replicas": {"type": ["integer", "null"]}}}
    filled = fill_params(schema, "scale web to 3", (0, 14), find_mentions("scale web to 3"), set())
    assert filled.params == {"replicas": 3}


# ------------------------------------------------------------------------------ filling


def test_phone_and_message():
    filled = fill(
        schema(phone_number=text_param(), message=text_param()),
        "text 555-123-4567 that the deploy is done",
    )
    assert filled.params["phone_number"] == "555-123-4567"
    assert filled.params["message"] == "the deploy is done"  # reported after "that"
    assert filled.missing == []
    assert filled.used == [5, 23]
    # with nothing but the address, there is no message: it is asked for
    filled = fill(schema(phone_number=text_param(), message=text_param()), "text 555-123-4567")
    assert "message" not in filled.params
    assert filled.missing == ["message"]
    # what follows the address is the message
    filled = fill(
        schema(phone_number=text_param(), message=text_param()), "text 555-123-4567 running late"
    )
    assert filled.params["message"] == "running late"


@pytest.mark.parametrize(
    ("request_text", "verbs", "phone", "message"),
    [
        # what it says after the address: not "SMS", which names the tool
        ("send an SMS to +1 555 0100 saying hi there", ("sms", "send"), "+1 555 0100", "hi there"),
        (
            "send a text to 415-555-0100 saying hi there",
            ("sms", "send"),
            "415-555-0100",
            "hi there",
        ),
        # what it is about, even in one word
        ("text +1 555 0100 about the outage", ("sms", "send"), "+1 555 0100", "the outage"),
    ],
)
def test_what_a_text_says_or_is_about_is_its_message(request_text, verbs, phone, message):
    texting = schema(phone_number=text_param(), message=text_param())
    own = frozenset(words("sms send Send a text message to a phone number"))
    filled = fill(texting, request_text, verbs=verbs, tool_words=own)
    assert filled.params == {"phone_number": phone, "message": message}


def test_a_name_for_another_param_before_about_is_not_part_of_the_message():
    paging = schema(service=text_param("The affected service"), message=text_param())
    filled = fill(
        paging,
        "page the on-call for billing about the failed deploy",
        verbs=("pagerduty", "page"),
        tool_words=frozenset(words("pagerduty page Page the on-call engineer of a service")),
    )
    assert filled.params == {"service": "billing", "message": "the failed deploy"}


def test_email_date_time_channel_and_file_each_get_their_kind():
    request = "mail report.pdf to ann@example.com and post in #ops on August 1, 2023 at 07:00 AM"
    filled = fill(
        schema(
            channel=text_param(),
            email=text_param(),
            date=text_param(),
            time=text_param(),
            attachment=text_param(),
        ),
        request,
    )
    assert filled.params == {
        "channel": "#ops",
        "email": "ann@example.com",
        "date": "2023-08-01",
        "time": "07:00 AM",
        "attachment": "report.pdf",
    }
    assert filled.missing == []


def test_params_come_back_in_schema_order():
    filled = fill(schema(text=text_param(), channel=text_param()), "post the release notes in #dev")
    assert list(filled.params) == ["text", "channel"]


TAXI = schema(
    location=text_param("The location to order the taxi to"),
    platform=text_param("The platform to order the taxi at, eg. Uber, Didi etc."),
)


def test_a_value_the_description_lists_as_an_example_goes_to_that_param():
    filled = fill(TAXI, "Can you order an Uber to 123 Main St?")
    assert filled.params == {"location": "123 Main St", "platform": "Uber"}
    # the example is spent: the place is not "Uber" even when no address is given
    filled = fill(TAXI, "Get me a Didi please")
    assert filled.params == {"platform": "Didi"}
    assert filled.missing == ["location"]


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("get me a taxi through uber eats", "Uber Eats"),  # the longest example named
        ("order a pizza on Uber Eats", "Uber Eats"),
        ("order from Meituan Waimai, or Uber Eats", "Meituan Waimai"),  # the first named
    ],
)
def test_the_first_and_longest_example_named_wins(request_text, expected):
    platform = text_param("The platform to order at, eg. Uber, Uber Eats, Meituan Waimai etc.")
    assert fill(schema(platform=platform), request_text).params == {"platform": expected}


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("handle the installation of Slack", "install"),
        ("uninstall Zoom from my laptop", "uninstall"),
        ("keep Chrome updated", "update"),
        # a word inside a longer one is not the example
        ("reinstall Chrome", "Chrome"),
    ],
)
def test_an_example_is_found_with_a_word_ending(request_text, expected):
    instruction = text_param("How to manage the software, e.g. install, uninstall, update")
    assert fill(schema(instruction=instruction), request_text).params == {"instruction": expected}


COURSE = schema(
    course=text_param("The course to enroll in"),
    university=text_param("The university to enroll in the course at"),
)


@pytest.mark.parametrize(
    "request_text",
    [
        "Enroll me in Artificial Intelligence at Example University",
        "At Example University, enroll me in Artificial Intelligence",
    ],
)
def test_a_name_ending_in_a_params_word_goes_to_that_param(request_text):
    filled = fill(COURSE, request_text)
    assert filled.params == {
        "course": "Artificial Intelligence",
        "university": "Example University",
    }


@pytest.mark.parametrize(
    ("request_text", "bank"),
    [
        ("move $100 at Bank of America", "Bank of America"),  # the word before "of"
        ("move $100 at GreatBank please", "GreatBank"),  # written as one word
    ],
)
def test_the_head_word_of_a_name_is_found_in_any_spelling(request_text, bank):
    accounts = schema(account=text_param("The account"), bank=text_param("The bank"))
    assert fill(accounts, request_text).params["bank"] == bank


def test_a_title_says_what_a_person_is():
    visit = schema(disease=text_param("The disease"), doctor=text_param("The doctor to see"))
    assert fill(visit, "book me a video visit with Dr. Jane Smith").params == {
        "doctor": "Dr. Jane Smith"
    }


def test_a_free_text_param_leaves_names_to_the_params_that_want_them():
    lawyer = schema(
        issue=text_param("The legal issue to consult the lawyer for"),
        lawyer=text_param("The lawyer to consult"),
    )
    filled = fill(lawyer, "talk to John Doe about a copyright claim")
    assert filled.params == {"issue": "a copyright claim", "lawyer": "John Doe"}


HOTEL = schema(name=text_param("The hotel's name"), date=text_param("The date"))


def test_values_the_clause_lacks_come_from_its_context_passages():
    request = "I'm staying at the Ritz on May 1, 2024. Can you book it? Also the Hilton."
    clause = "Can you book it?"
    start = request.index(clause)
    scene = Passage("I'm staying at the Ritz on May 1, 2024", 0)
    filled = fill_params(
        HOTEL,
        clause,
        (start, start + len(clause)),
        find_mentions(request, today=TODAY),
        set(),
        context=[scene],
    )
    assert filled.params == {"name": "Ritz", "date": "2024-05-01"}
    # without the context, a name is too vague to take from another clause
    assert fill(HOTEL, request, clause).params == {"date": "2024-05-01"}


def test_the_clause_own_values_win_over_its_context():
    request = "I'm staying at the Ritz. Can you book the Hilton?"
    clause = "Can you book the Hilton?"
    start = request.index(clause)
    filled = fill_params(
        schema(required=[], name=text_param("The hotel's name")),
        clause,
        (start, start + len(clause)),
        find_mentions(request, today=TODAY),
        set(),
        context=[Passage("I'm staying at the Ritz", 0)],
    )
    assert filled.params == {"name": "Hilton"}


def test_json_schema_examples_count_too():
    bill = {"type": "string", "examples": ["electricity", "water", "internet"]}
    filled = fill(schema(bill=bill), "I still have to pay my internet bill")
    assert filled.params == {"bill": "internet"}


@pytest.mark.parametrize(
    ("request_text", "expected"), [("scale checkout to 3 replicas", 3), ("keep 1,000 rows", 1000)]
)
def test_an_integer_param_gets_an_int(request_text, expected):
    filled = fill(schema(count={"type": "integer"}), request_text)
    assert filled.params == {"count": expected}
    assert isinstance(filled.params["count"], int)


def test_a_number_param_gets_a_float_from_an_amount():
    filled = fill(schema(amount={"type": "number"}), "refund $12.50 to the customer")
    assert filled.params == {"amount": 12.5}


def test_an_enum_param_picks_the_option_the_text_names():
    filled = fill(schema(environment=ENVIRONMENT), "deploy the api service to production right now")
    assert filled.params == {"environment": "production"}
    assert filled.missing == []


def test_an_enum_param_with_no_option_named_is_missing():
    filled = fill(schema(environment=ENVIRONMENT), "deploy the api service")
    assert filled.params == {}
    assert filled.missing == ["environment"]


@pytest.mark.parametrize(
    ("request_text", "params_schema", "expected"),
    [
        ("deploy to Staging", schema(environment=ENVIRONMENT), {"environment": "staging"}),
        (
            "deploy the Billing service to Production",
            schema(service=text_param(), environment=ENVIRONMENT),
            {"service": "Billing", "environment": "production"},
        ),
        (
            "open a ticket for Acme with high priority",
            schema(priority={"type": "string", "enum": ["low", "high"]}),
            {"priority": "high"},
        ),
    ],
)
def test_an_enum_param_only_takes_one_of_its_options(request_text, params_schema, expected):
    # a capitalised word is an entity mention; an enum param must not take it verbatim when it
    # is not one of the options (the engine's validation then rejects the value)
    assert fill(params_schema, request_text).params == expected


@pytest.mark.parametrize(
    ("clause", "text"),
    [
        ("Could you please post the release notes in #dev?", "post the release notes in #dev"),
        ("please tell them the deploy is done.", "tell them the deploy is done"),
        ("and then I'd like you to say we are live", "say we are live"),
    ],
)
def test_a_free_text_param_gets_the_clause_without_politeness(clause, text):
    filled = fill(schema(text=text_param()), clause)
    assert filled.params == {"text": text}


def test_a_quoted_value_is_the_free_text_when_there_is_one():
    filled = fill(schema(message=text_param()), "post 'we are live' in the channel")
    assert filled.params == {"message": "we are live"}


def test_required_params_the_text_says_nothing_about_are_missing():
    filled = fill(
        schema(["city", "date"], city=text_param(), date=text_param(), units=text_param()),
        "check the weather",
    )
    assert filled.params == {}
    assert filled.missing == ["city", "date"]  # units is optional: not missing


def test_an_optional_param_with_a_default_is_left_out():
    filled = fill(
        schema(["city"], city=text_param(), units={"type": "string", "default": "metric"}),
        "check the weather in Paris",
    )
    assert filled.params == {"city": "Paris"}
    assert filled.missing == []


def test_a_param_with_a_default_takes_no_value_said_for_another_step():
    request = "write 'hi' to notes/a.txt then read notes/a.txt"
    read = schema(
        ["path"],
        path=text_param("Path relative to the workspace"),
        encoding={"type": "string", "default": "utf-8", "description": "Encoding of the file."},
    )
    used = {find_mentions(request)[1].start}  # the write step took the first path
    filled = fill(read, request, "read notes/a.txt", used=used)
    assert filled.params == {"path": "notes/a.txt"}  # no encoding guessed from the other path


def test_a_param_with_a_default_still_takes_a_value_its_own_clause_says():
    read = schema(
        ["path"],
        path=text_param("Path relative to the workspace"),
        encoding={"type": "string", "default": "utf-8", "description": "Text encoding"},
    )
    filled = fill(read, "read notes/a.txt with encoding 'latin-1'")
    assert filled.params == {"path": "notes/a.txt", "encoding": "latin-1"}


def test_values_from_the_steps_own_clause_win():
    request = "text 555-000-1111 that we are starting, then text 555-222-3333 when it is done"
    phone = schema(phone_number=text_param())
    first = fill(phone, request, "text 555-000-1111 that we are starting")
    second = fill(phone, request, "text 555-222-3333 when it is done")
    assert first.params == {"phone_number": "555-000-1111"}
    assert second.params == {"phone_number": "555-222-3333"}


def test_a_specific_value_missing_from_the_clause_comes_from_the_nearest_other_clause():
    request = "I have a meeting on August 1, 2023 in Paris. Please check the weather there"
    filled = fill(
        schema(city=text_param(), date=text_param()), request, "Please check the weather there"
    )
    assert filled.params == {"date": "2023-08-01"}  # a date is a date wherever it is said
    assert filled.missing == ["city"]  # but a bare name in another clause is too vague


def test_mentions_used_by_earlier_steps_are_not_taken_again():
    request = "post in #dev and #ops"
    mentions = find_mentions(request)
    dev = next(m for m in mentions if m.value == "#dev")
    filled = fill(schema(channel=text_param()), request, used={dev.start})
    assert filled.params == {"channel": "#ops"}


def test_a_phone_number_is_not_taken_as_the_message():
    filled = fill(
        schema(message=text_param(), phone=text_param()), "send 'on my way' to 555-123-4567"
    )
    assert filled.params == {"message": "on my way", "phone": "555-123-4567"}


@pytest.mark.parametrize(
    ("request_text", "phone"),
    [("call the 5 people on the list", None), ("call 5550100 about the outage", "5550100")],
)
def test_a_plain_number_is_a_phone_number_only_with_enough_digits(request_text, phone):
    filled = fill(schema(phone_number=text_param()), request_text)
    assert filled.params.get("phone_number") == phone


def test_a_value_goes_to_the_param_whose_words_are_next_to_it():
    # _pick's docstring: inside the clause, "nearest to the parameter's own words if they
    # occur"; its `name` argument is unused and the first quoted string goes to `repo`
    filled = fill(
        schema(repo=text_param(), title=text_param()),
        "open a pull request titled 'Fix login' in repo 'kaizen'",
    )
    assert filled.params == {"repo": "kaizen", "title": "Fix login"}


def test_a_free_text_param_without_a_declared_type_still_gets_the_clause():
    # a schema with no "type" accepts a string (MCP tools often leave it out)
    filled = fill(schema(message={"description": "What to say"}), "tell them we are live")
    assert filled.params == {"message": "tell them we are live"}
    assert filled.missing == []


PULL_REQUEST = schema(repo=text_param("The repository"), title=text_param("Title of the PR"))


@pytest.mark.parametrize(
    "request_text",
    [
        "open a pull request on kaizen titled 'Faster search'",
        "open a pull request with the title 'Faster search'",
        "open a pull request, title: 'Faster search'",
    ],
)
def test_a_value_labelled_with_a_params_word_goes_to_that_param(request_text):
    """The repo comes first in the schema and would take the only quoted value; "titled"
    says whose it is."""
    assert fill(PULL_REQUEST, request_text).params["title"] == "Faster search"


@pytest.mark.parametrize(
    ("request_text", "params_schema", "expected"),
    [
        ("check the status of the auth service", schema(service=text_param()), "auth"),
        ("deploy our billing-api service to prod", schema(service=text_param()), "billing-api"),
        ("scale the checkout deployment to 12", schema(deployment=text_param()), "checkout"),
        ("list the open issues of repo kaizen", schema(repo=text_param()), "kaizen"),
        ("open a pull request on the repo kaizen titled 'Speed'", PULL_REQUEST, "kaizen"),
    ],
)
def test_a_lower_case_name_beside_the_params_word_fills_it(request_text, params_schema, expected):
    assert next(iter(fill(params_schema, request_text).params.values())) == expected


@pytest.mark.parametrize(
    ("request_text", "params_schema"),
    [
        # words that say which one, not names
        ("restart the new service", schema(service=text_param())),
        ("pay at my preferred bank", schema(bank=text_param())),
        # a compound of the param's own words ("credit card" is the param's, "my" no name)
        ("pay off my credit card", schema(credit_card=text_param())),
        # a word after the param's word that goes on ("the repo is broken")
        ("the repo is broken", schema(repo=text_param())),
    ],
)
def test_words_beside_the_params_word_that_are_no_names_fill_nothing(request_text, params_schema):
    assert fill(params_schema, request_text).params == {}


def test_a_name_said_otherwise_wins_over_a_lower_case_word_beside_the_params_word():
    filled = fill(schema(service=text_param()), "restart the flaky service 'Payments API'")
    assert filled.params == {"service": "Payments API"}


@pytest.mark.parametrize(
    ("request_text", "params_schema"),
    [
        ("I'm interested in software engineering", schema(software=text_param())),
        ("I've arranged a package delivery and a call", schema(package=text_param())),
    ],
)
def test_an_activity_after_the_params_word_is_a_compound_not_a_name(request_text, params_schema):
    assert fill(params_schema, request_text).params == {}


def test_a_lower_case_name_beside_the_params_word_may_come_from_the_context():
    """The clause that named the step first ("the tests of repo auth need a run. Can you help
    me?") gives no name; a later clause that asked for the same step does."""
    request = (
        "The tests of repo auth need a run. Can you help me? Lastly, run the tests for repo auth."
    )
    clause = "The tests of repo auth need a run. Can you help me?"
    later = "run the tests for repo auth"
    filled = fill_params(
        schema(repo=text_param()),
        clause,
        (0, len(clause)),
        find_mentions(request, today=TODAY),
        set(),
        context=[Passage(later, request.index(later))],
    )
    assert filled.params == {"repo": "auth"}


@pytest.mark.parametrize(
    ("request_text", "verbs", "params_schema", "expected"),
    [
        (
            "deploy billing to production",
            ("deploy", "service"),
            schema(service=text_param()),
            "billing",
        ),
        ("Roll back auth in staging", ("deploy", "rollback"), schema(service=text_param()), "auth"),
        (
            "please scale checkout to 12",
            ("k8s", "scale"),
            schema(deployment=text_param()),
            "checkout",
        ),
        (
            "then restart api-gateway.",
            ("restart", "service"),
            schema(service=text_param()),
            "api-gateway",
        ),
        ("check the status of auth", ("status", "check"), schema(service=text_param()), "auth"),
        ("run tests for kaizen", ("ci", "run", "tests"), schema(repo=text_param()), "kaizen"),
        # a word saying when may follow the name
        ("roll back billing now", ("rollback",), schema(service=text_param()), "billing"),
        (
            "we will need a rollback of billing soon",
            ("deploy", "rollback"),
            schema(service=text_param()),
            "billing",
        ),
        (
            "page the on-call for billing",
            ("pagerduty", "page"),
            schema(service=text_param()),
            "billing",
        ),
        ("run the tests for kaizen", ("ci", "run", "tests"), schema(repo=text_param()), "kaizen"),
    ],
)
def test_a_lower_case_name_right_after_the_tools_verb_is_its_object(
    request_text, verbs, params_schema, expected
):
    filled = fill(params_schema, request_text, verbs=verbs)
    assert next(iter(filled.params.values())) == expected
    assert fill(params_schema, request_text).params == {}  # another tool's verb: no object


@pytest.mark.parametrize(
    ("request_text", "verbs", "params_schema"),
    [
        ("deploy it to staging", ("deploy", "service"), schema(service=text_param())),
        ("deploy the api to staging", ("deploy", "service"), schema(service=text_param())),
        # a word of the tool's own name is no object ("sell online")
        ("sell online for me", ("sell", "item", "online"), schema(item=text_param())),
        # "for" a time or a meal names no object
        ("order a pizza for dinner", ("order", "food"), schema(food=text_param())),
        # a place is no verb's object
        ("order pizza to my flat", ("order", "food"), schema(location=text_param("Where to"))),
        # not right after the verb
        ("deploy now billing to production", ("deploy", "service"), schema(service=text_param())),
        # a word of the tool's name in a compound noun is no verb
        (
            "buy an insurance policy from the broker",
            ("buy", "insurance"),
            schema(company=text_param()),
        ),
    ],
)
def test_words_after_the_tools_verb_that_are_no_object_fill_nothing(
    request_text, verbs, params_schema
):
    assert fill(params_schema, request_text, verbs=verbs).params == {}


def test_a_lower_case_name_labelled_after_a_preposition_wins_over_a_capitalised_word():
    filled = fill(schema(repo=text_param()), "Open a ticket in Jira for repo kaizen")
    assert filled.params == {"repo": "kaizen"}
    # after "the" or "a" the param's word makes a compound: "a job interview"
    filled = fill(schema(job=text_param()), "I got a job interview at Acme")
    assert filled.params == {"job": "Acme"}


@pytest.mark.parametrize(
    ("request_text", "param", "expected"),
    [
        ("open an issue in jira: login page returns 500", "summary", "login page returns 500"),
        ("search the docs for rate limits", "query", "rate limits"),
        ("get me the latest news about home automation", "topic", "home automation"),
        ("look up cheap flights", "query", "cheap flights"),
        # what is sent, not to whom
        ("send a cleaning report to my friend, bo@example.com", "content", "a cleaning report"),
        ("text the release notes to +1 555 010 0100", "message", "the release notes"),
        ("send the notes to my manager at bo@example.com", "body", "the notes"),
        ("post the summary to #dev", "text", "the summary"),
        # what "it" is, the step before says
        ("send it to bo@example.com", "body", "send it to bo@example.com"),
        # a text param that is no query keeps the clause
        ("search the docs for rate limits", "text", "search the docs for rate limits"),
        # a colon in a time is no label
        ("remind me at 10:30 to stretch", "text", "remind me at 10:30 to stretch"),
    ],
)
def test_free_text_is_what_follows_a_colon_or_what_is_looked_for(request_text, param, expected):
    filled = fill(schema(**{param: text_param()}), request_text)
    assert filled.params[param] == expected


def test_a_name_after_the_tools_noun_and_a_preposition_is_its_object():
    verbs = ("github", "open", "pull", "request")
    filled = fill(PULL_REQUEST, "open a pull request on kaizen titled 'Speed'", verbs=verbs)
    assert filled.params == {"repo": "kaizen", "title": "Speed"}


def test_what_follows_a_colon_is_the_text_before_any_name_in_it():
    summary = schema(required=[], summary=text_param())
    filled = fill(summary, "Create a Jira ticket: checkout latency above 2s")
    assert filled.params == {"summary": "checkout latency above 2s"}  # not the name 'Jira'
    # a colon that labels an address or a quote is no text of its own
    filled = fill(summary, "send it (via email: bo@example.com) to Bo")
    assert filled.params["summary"] != "bo@example.com) to Bo"
    filled = fill(summary, "with the message: 'Deploy is done'")
    assert filled.params == {"summary": "Deploy is done"}


def test_a_quoted_message_is_what_a_message_param_says_but_a_labelled_title_stays_a_title():
    page = schema(service=text_param("The service to page for"), message=text_param())
    filled = fill(page, "page the on-call, telling them 'billing is down again now'")
    assert filled.params == {"message": "billing is down again now"}
    event = schema(title=text_param("The event's title"), body=text_param())
    filled = fill(event, "create an event titled 'Review the Q3 plan now'")
    assert filled.params["title"] == "Review the Q3 plan now"
    assert filled.params.get("body") != "Review the Q3 plan now"


@pytest.mark.parametrize(
    ("message", "about"),
    [
        ("billing is rolling back", "billing"),
        ("the api keeps crashing", "api"),
        ("checkout's down again", "checkout"),
        ("auth-v2 has been flaky all day", "auth-v2"),
        # nobody named, or a sentence's capital: no name
        ("we are rolling back", None),
        ("it is down", None),
        ("this is fine", None),
        ("Billing is down", None),
        ("deploy is done", "deploy"),
        ("rolling back billing now", None),
    ],
)
def test_a_message_names_what_it_tells_about_when_it_opens_with_it(message, about):
    assert news_about(message) == about
