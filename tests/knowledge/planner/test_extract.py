"""Values a chat-ops request states: what ``find_mentions`` finds, normalises and where."""

from __future__ import annotations

from datetime import date

import pytest

from knowledge.planner.extract import Mention, find_mentions

TODAY = date(2024, 3, 10)


def found(text: str) -> list[Mention]:
    mentions = find_mentions(text, today=TODAY)
    for mention in mentions:  # every position points at the text as written
        if mention.kind != "quoted":
            assert text[mention.start : mention.end] == mention.text, mention
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)
    return mentions


def of_kind(text: str, kind: str) -> list[str]:
    return [m.value for m in found(text) if m.kind == kind]


# ------------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("text", "written", "iso"),
    [
        ("freeze deploys on August 1, 2023 please", "August 1, 2023", "2023-08-01"),
        ("freeze deploys on the 1st of August, 2023", "the 1st of August, 2023", "2023-08-01"),
        ("freeze deploys on 2023-08-01", "2023-08-01", "2023-08-01"),
        ("freeze deploys on Aug. 1st 2023", "Aug. 1st 2023", "2023-08-01"),
        ("freeze deploys on 8/1/2023", "8/1/2023", "2023-08-01"),
        ("freeze deploys on 1 August 2023", "1 August 2023", "2023-08-01"),
        ("freeze deploys on August 1", "August 1", "2024-08-01"),  # this year
        ("freeze deploys tomorrow", "tomorrow", "2024-03-11"),
        ("freeze deploys Tomorrow", "Tomorrow", "2024-03-11"),
        ("what broke yesterday", "yesterday", "2024-03-09"),
        ("what is on today", "today", "2024-03-10"),
        # TODAY is a Sunday
        ("freeze deploys the day after tomorrow", "the day after tomorrow", "2024-03-12"),
        ("what broke the day before yesterday", "the day before yesterday", "2024-03-08"),
        ("freeze deploys on Friday", "Friday", "2024-03-15"),
        ("freeze deploys next friday", "next friday", "2024-03-15"),
        ("freeze deploys this Sunday", "this Sunday", "2024-03-10"),
        ("freeze deploys on Sunday", "Sunday", "2024-03-17"),  # today is gone: the next one
        ("freeze deploys in 3 days", "in 3 days", "2024-03-13"),
        ("freeze deploys in two weeks", "in two weeks", "2024-03-24"),
        ("freeze deploys in a week", "in a week", "2024-03-17"),
    ],
)
def test_dates_in_any_form_become_iso(text, written, iso):
    dates = [m for m in found(text) if m.kind == "date"]
    assert [(m.text, m.value) for m in dates] == [(written, iso)]
    assert not [m for m in found(text) if m.kind in ("number", "year", "entity")]


def test_relative_dates_follow_the_given_today():
    assert of_kind("deploy tomorrow", "date") == ["2024-03-11"]
    later = find_mentions("deploy tomorrow", today=date(2024, 12, 31))
    assert [m.value for m in later if m.kind == "date"] == ["2025-01-01"]


def test_a_weekday_that_starts_a_name_is_not_a_date():
    assert of_kind("play 'Heat' then Saturday Night Fever", "date") == []
    assert of_kind("On Friday I deploy", "date") == ["2024-03-15"]


@pytest.mark.parametrize(
    "text", ["meet on February 30, 2023", "meet on 2023-02-30", "meet on 13/45/2023"]
)
def test_impossible_dates_are_not_dates(text):
    assert of_kind(text, "date") == []


# ------------------------------------------------------------------------------ times


def test_times_with_and_without_am_pm():
    mentions = found("wake me at 07:00 AM, standup at 14:30 and lunch at 1pm")
    assert [(m.kind, m.value) for m in mentions] == [
        ("time", "07:00 AM"),
        ("time", "14:30"),
        ("time", "1pm"),
    ]


def test_a_full_stop_after_am_pm_ends_the_sentence_not_the_time():
    assert of_kind("Set an alarm for 2 pm. Then call me", "time") == ["2 pm"]
    assert of_kind("Set an alarm for 7 AM.", "time") == ["7 AM"]
    assert of_kind("Set an alarm for 7 p.m. please", "time") == ["7 p.m."]


# ------------------------------------------------------------------------------ phones


@pytest.mark.parametrize(
    "phone",
    [
        "555-123-4567",
        "(555) 123-4567",
        "+1 555 123 4567",
        "555.123.4567",
        "5551234567",
        # international, in groups after the country code
        "+1 555 0100",
        "+44 20 7946 0958",
        "+49-30-1234-5678",
    ],
)
def test_phone_numbers_in_several_formats_are_phones_not_numbers(phone):
    mentions = found(f"text {phone} that the deploy is done")
    assert [(m.kind, m.value) for m in mentions] == [
        ("phone", phone),
        ("quoted", "the deploy is done"),  # what to text
    ]


def test_numbers_after_a_plus_sign_in_too_few_groups_are_no_phone():
    assert [(m.kind, m.value) for m in found("the error rate rose +2 10 times")] == [
        ("number", "2"),
        ("number", "10"),
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("send Dana a message that the build is green", "the build is green"),
        ("let #ops know that the api is down, then page the on-call", "the api is down"),
        ("tell Bob that the api is down at +1 415 555 0100", "the api is down"),
        ("text 415-555-0100 that the api is down at 415-555-0199", "the api is down"),
        ("tell Bob that the standup moved to 3 pm", "the standup moved to 3 pm"),
        ("notify ann@example.com that the deploy is done. Then stop", "the deploy is done"),
        # three words are a message too
        ("text bob at +1 555 010 0100 that I'm running late", "I'm running late"),
        ("tell Dana that billing rolled back", "billing rolled back"),
    ],
)
def test_a_reported_message_is_one_value_to_the_end_of_its_clause(text, said):
    (message,) = [m for m in found(text) if m.kind == "quoted"]
    assert message.value == said
    assert text[message.start : message.end] == said


def test_a_reported_message_of_two_words_is_no_value():
    """ "tell Dana that it shipped": too short to be sure it is the message."""
    assert [m for m in found("tell Dana that it shipped") if m.kind == "quoted"] == []


@pytest.mark.parametrize(
    ("text", "said", "time"),
    [
        ("remind me at 9am to review the PR", "review the PR", "9am"),
        # a when said after what to do is when to remind, not part of it
        ("remind me to check the canary at 5 p.m. tomorrow", "check the canary", "5 p.m."),
        ("Deploy billing. Remind ops@x.io at 5 pm to check the deploy, then page the on-call",
         "check the deploy", "5 pm"),
    ],
)  # fmt: skip
def test_what_a_timed_reminder_is_of_is_one_value_and_its_time_another(text, said, time):
    (content,) = [m for m in found(text) if m.kind == "quoted"]
    assert content.value == said
    assert text[content.start : content.end] == said
    assert of_kind(text, "time") == [time]


def test_what_an_untimed_reminder_names_stays_values_of_their_own():
    """Without a time, "remind me to pay the bill" reads as asking for the payment: its
    values are found as usual."""
    assert [m for m in found("remind me to pay the bill of Acme Power") if m.kind == "quoted"] == []
    assert of_kind("remind me to pay the bill of Acme Power", "entity") == ["Acme Power"]


# ------------------------------------------------------------------------------ contact, web


def test_emails_without_the_sentence_punctuation():
    mentions = found("mail bob.smith+ops@example.co.uk. Then mail ann@corp.io, thanks")
    assert [(m.kind, m.value) for m in mentions] == [
        ("email", "bob.smith+ops@example.co.uk"),
        ("email", "ann@corp.io"),
    ]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("see https://example.com/docs/page.", "https://example.com/docs/page"),
        (
            "is https://status.example.com/api?region=eu up?",
            "https://status.example.com/api?region=eu",
        ),
        ("(logs at https://logs.example.org/x), ok", "https://logs.example.org/x"),
        ("open http://grafana.local:3000/d/abc!", "http://grafana.local:3000/d/abc"),
        ("link: <https://ci.example.com/run/42>;", "https://ci.example.com/run/42"),
    ],
)
def test_urls_without_trailing_punctuation(text, url):
    assert of_kind(text, "url") == [url]


def test_channels_and_user_mentions():
    mentions = found("post to #dev and #release-notes, then ping @alice and @bob.smith")
    assert [(m.kind, m.value) for m in mentions] == [
        ("channel", "#dev"),
        ("channel", "#release-notes"),
        ("mention", "@alice"),
        ("mention", "@bob.smith"),
    ]


def test_an_email_is_not_also_a_mention():
    assert [m.kind for m in found("invite carol@example.com")] == ["email"]


# ------------------------------------------------------------------------------ literals


def test_quoted_strings_keep_their_inner_text_and_position():
    text = "open a PR titled 'Fix login' with body \"Closes #12\" and note “ship it”"
    quoted = [m for m in found(text) if m.kind == "quoted"]
    assert [m.value for m in quoted] == ["Fix login", "Closes #12", "ship it"]
    for mention in quoted:
        assert text[mention.start : mention.end] == mention.value
    # what is inside quotes is a quoted string, not a channel
    assert of_kind(text, "channel") == []


def test_apostrophes_are_not_quotes():
    assert of_kind("don't deploy, it's friday and we're tired", "quoted") == []


def test_a_date_inside_quotes_is_the_quoted_string():
    assert [(m.kind, m.value) for m in found("title it 'Release 2023-08-01'")] == [
        ("quoted", "Release 2023-08-01")
    ]


def test_file_names():
    assert of_kind("attach report.pdf, data.CSV and notes.md", "file") == [
        "report.pdf",
        "data.CSV",
        "notes.md",
    ]


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("write it to /tmp/a.txt then read /tmp/a.txt.", ["/tmp/a.txt", "/tmp/a.txt"]),
        ("read ~/notes/todo.md and logs/app.log", ["~/notes/todo.md", "logs/app.log"]),
        ("open ./out/a.csv, then tail /var/log/syslog", ["./out/a.csv", "/var/log/syslog"]),
    ],
)
def test_paths_are_whole_files_not_their_last_part(text, paths):
    assert of_kind(text, "file") == paths


def test_slashes_between_words_and_numbers_are_not_paths():
    assert of_kind("24/7 support and/or a refund", "file") == []
    assert of_kind("see https://example.com/a.pdf", "file") == []  # a URL stays a URL


@pytest.mark.parametrize(
    ("text", "value"),
    [("pay $100 for the domain", "100"), ("pay $1,250.50", "1250.50"), ("pay 30 dollars", "30")],
)
def test_amounts_are_plain_numbers(text, value):
    mentions = found(text)
    assert [(m.kind, m.value) for m in mentions] == [("amount", value)]


def test_numbers_and_years():
    mentions = found("scale to 3 replicas and archive 2019 logs")
    assert [(m.kind, m.value) for m in mentions] == [("number", "3"), ("year", "2019")]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("send a cab to 123 Main St tonight", "123 Main St"),
        ("ship it to 5 Oak Avenue", "5 Oak Avenue"),
        ("meet at 1600 Pennsylvania Avenue", "1600 Pennsylvania Avenue"),
    ],
)
def test_street_addresses(text, address):
    mentions = found(text)
    assert [(m.kind, m.value) for m in mentions] == [("address", address)]


# ------------------------------------------------------------------------------ names


def test_multi_word_names_are_one_entity():
    text = "move my account from Bank of America to a branch in New York City"
    assert of_kind(text, "entity") == ["Bank of America", "New York City"]


def test_a_name_at_the_start_of_a_sentence_is_still_a_name():
    assert of_kind("Bank of America is down again", "entity") == ["Bank of America"]


def test_a_possessive_is_not_part_of_the_name():
    assert of_kind("restart Grafana's alerting", "entity") == ["Grafana"]


@pytest.mark.parametrize(
    "text",
    [
        "Deploy the api. Check the logs. Please restart it",
        "Tonight we ship the release",
        "Could you restart the cache?",
        "Hey, I need the logs. Thanks",
        "Rerun the flaky tests",
    ],
)
def test_capitalised_ordinary_words_starting_a_sentence_are_not_names(text):
    assert of_kind(text, "entity") == []


def test_a_name_after_a_polite_opening_is_found_alone():
    assert of_kind("Could you ping Alice about the outage?", "entity") == ["Alice"]
    assert of_kind("Please deploy Billing", "entity") == ["Billing"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Page Carol about the outage", "Carol"),
        ("Ping Alice when the build is green", "Alice"),
        ("Rollback the Billing service", "Billing"),
    ],
)
def test_a_sentence_initial_imperative_is_not_glued_to_the_name_after_it(text, name):
    # chat-ops verbs that are not in _COMMON_VERBS ("page", "ping", "rollback") start many
    # requests; the name is what follows them, not "Page Carol"
    assert of_kind(text, "entity") == [name]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("I plan on going to Australia and I'd need a passport", ["Australia"]),
        ("I'm flying to Berlin and I will need a car", ["Berlin"]),
        ("a meeting with Alice and I", ["Alice"]),
        ("move the funds to Bank A today", ["Bank A"]),
        ("ask Bob and Alice", ["Bob and Alice"]),
    ],
)
def test_a_name_ends_before_a_pronoun_or_a_dangling_and(text, names):
    assert of_kind(text, "entity") == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("apply for a U.S passport", ["U.S"]),
        ("apply for a U.S. passport and a U.K. visa", ["U.S.", "U.K."]),
    ],
)
def test_initials_are_one_name_not_single_letters(text, names):
    assert of_kind(text, "entity") == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("list it on eBay and buy an iPad", ["eBay", "iPad"]),
        ("sell my Apple iPhone 12 on Amazon", ["Apple iPhone 12", "Amazon"]),
        ("enrol me in Data Science 101", ["Data Science 101"]),
    ],
)
def test_brands_and_model_numbers_belong_to_the_name(text, names):
    assert of_kind(text, "entity") == names
    assert of_kind(text, "number") == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("deliver it to my place in Stanford, CA today", ["Stanford, CA"]),
        ("fly from New York, USA to London, UK", ["New York, USA", "London, UK"]),
        ("deploy Billing, QA first", ["Billing", "QA"]),
        ("ask Bob, CEO of Acme", ["Bob", "CEO of Acme"]),
    ],
)
def test_a_place_keeps_its_state_or_country_code(text, names):
    assert of_kind(text, "entity") == names


def test_a_year_after_a_name_stays_a_year():
    assert of_kind("the Bank of America 2023 report", "entity") == ["Bank of America"]
    assert of_kind("the Bank of America 2023 report", "year") == ["2023"]


def test_every_kind_in_one_request_in_order():
    text = (
        "On August 1, 2023 at 14:30 text 555-123-4567, mail ops@example.com the link "
        "https://ci.example.com/42, post 'done' to #dev for @alice with report.pdf, "
        "pay $100 and send 2 boxes to 123 Main St for Bank of America"
    )
    assert [m.kind for m in found(text)] == [
        "date",
        "time",
        "phone",
        "email",
        "url",
        "quoted",
        "channel",
        "mention",
        "file",
        "amount",
        "number",
        "address",
        "entity",
    ]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("make a payment towards my credit card with number 1234567890", "number", "1234567890"),
        ("pay off my card 1234-5678-9012-3456 today", "number", "1234-5678-9012-3456"),
        ("transfer it to account number 5551234567", "number", "5551234567"),
        ("my card ending in 1234567890 is due", "number", "1234567890"),
        # a phone number near the word "card" is still a phone number
        ("text my card company at 555-123-4567", "phone", "555-123-4567"),
        ("call 1234567890 about my card", "phone", "1234567890"),
    ],
)
def test_a_long_number_labelled_as_a_cards_or_accounts_is_no_phone(text, kind, value):
    (mention,) = [m for m in found(text) if m.kind in ("phone", "number")]
    assert (mention.kind, mention.value) == (kind, value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Billing is throwing 500s. Roll it back.", ["Billing"]),
        ("Checkout has been slow all day", ["Checkout"]),
        # a first word that is no name, whatever follows
        ("Everything is down", []),
        ("Could you roll it back?", []),
        ("Deploy the api", []),
    ],
)
def test_a_sentences_first_word_in_some_state_is_a_name(text, names):
    assert of_kind(text, "entity") == names


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("create an event called standup at 9am", "standup"),
        ("a channel named ops-alerts", "ops-alerts"),
        ("open a PR titled fix-login", "fix-login"),
    ],
)
def test_a_lower_case_name_given_as_one_is_a_name(text, name):
    assert ("entity", name) in [(m.kind, m.value) for m in find_mentions(text)]


def test_called_before_an_article_or_pronoun_gives_no_name():
    assert not [m for m in find_mentions("a script called by the cron job") if m.kind == "entity"]
