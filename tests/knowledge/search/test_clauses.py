"""A request as the planner reads it: clauses, their connectives, order and whether they ask."""

from __future__ import annotations

import pytest

from knowledge.search.clauses import Clause, read_clauses, reminder_of, same_again_for


def clauses_of(text: str) -> list[Clause]:
    clauses = read_clauses(text)
    for clause in clauses:  # positions point at the clause in the request
        assert text[clause.start : clause.end] == clause.text
    assert [c.start for c in clauses] == sorted(c.start for c in clauses)
    return clauses


def test_a_chain_of_actions_is_one_clause_each_in_order():
    text = "deploy api to staging, then run the smoke tests and finally post to #ops"
    clauses = clauses_of(text)
    assert [c.text for c in clauses] == [
        "deploy api to staging",
        "run the smoke tests",
        "finally post to #ops",
    ]
    assert clauses[0].connective == ""
    assert clauses[1].connective == "then"
    assert clauses[2].connective in ("and", "finally")
    assert not any(c.parallel for c in clauses)
    assert all(c.asks for c in clauses)


def test_leading_ordinal_words_are_connectives():
    clauses = clauses_of("First open a pull request. Next run ci for it. Lastly tag the release")
    assert [c.connective for c in clauses] == ["first", "next", "lastly"]
    assert clauses[0].text == "First open a pull request"


def test_a_lone_connective_belongs_to_the_next_clause():
    clauses = clauses_of("deploy the api. Also, post it to #dev")
    assert [(c.text, c.connective) for c in clauses] == [
        ("deploy the api", ""),
        ("post it to #dev", "also"),
    ]


@pytest.mark.parametrize("lead", ["After that", "After this"])
def test_after_that_or_this_alone_is_a_connective_not_a_clause(lead):
    clauses = clauses_of(f"Record the standup. {lead}, I would like to post it to #dev")
    assert [(c.text, c.connective) for c in clauses] == [
        ("Record the standup", ""),
        ("I would like to post it to #dev", "after"),
    ]


def test_once_that_is_done_orders_what_follows():
    clauses = clauses_of("run ci. Once that is done, deploy it to staging")
    assert clauses[-1].text == "deploy it to staging"
    assert clauses[-1].connective == "once"
    assert not clauses[-1].parallel


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("deploy the api to production. Meanwhile, post a heads-up in #ops", "meanwhile"),
        ("deploy the api, meanwhile restart the cache", "meanwhile"),
        ("restart the web service and at the same time page the on-call", "at the same time"),
        ("deploy the api and simultaneously restart the cache", "simultaneously"),
        ("run the tests while you deploy the api", "while"),
        ("order a pizza. In the meantime, call the lawyer", "in the meantime"),
    ],
)
def test_parallel_connectives(text, word):
    first, second = clauses_of(text)
    assert not first.parallel
    assert second.connective == word
    assert second.parallel


@pytest.mark.parametrize(
    ("text", "word", "action"),
    [
        (
            "deploy the api. At the same time, page the on-call engineer",
            "at the same time",
            "page the on-call engineer",
        ),
        (
            "deploy the api. In parallel, restart the cache service",
            "in parallel",
            "restart the cache service",
        ),
    ],
)
def test_a_multi_word_parallel_connective_before_a_comma_marks_the_next_clause(text, word, action):
    # "At the same time," is not a clause of its own (it asks for nothing): like "Meanwhile,"
    # it makes the action after it run alongside the one before
    assert [(c.text, c.connective, c.parallel) for c in clauses_of(text)] == [
        ("deploy the api", "", False),
        (action, word, True),
    ]


def test_scene_setting_clauses_do_not_ask_but_requests_and_questions_do():
    clauses = clauses_of(
        "I have a busy day tomorrow. My build is failing. "
        "Could you rerun the tests? What is the weather in Paris? Please page Bob"
    )
    assert [(c.text, c.asks) for c in clauses] == [
        ("I have a busy day tomorrow", False),
        ("My build is failing", False),
        ("Could you rerun the tests", True),
        ("What is the weather in Paris", True),
        ("Please page Bob", True),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "I need the deploy logs",
        "I'd like a summary of the incident",
        "we need to roll back",
        "I'll need to restart the cache",
        "I'll want to list it for sale on eBay",
        "I'm going to need the logs",
        "I will also need a rollback",
        "It would be great if you could restart the cache",
        "It would be helpful to get the deploy logs",
    ],
)
def test_wanting_something_is_asking(text):
    assert [c.asks for c in clauses_of(text)] == [True]


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("remind me to renew the certificate", True),
        ("Please remind the team about the freeze", True),
        ("I keep a calendar to remind me of the release dates", False),
    ],
)
def test_remind_asks_unless_it_says_what_something_is_for(text, asks):
    assert [c.asks for c in clauses_of(text)] == [asks]


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris tomorrow?",
        "Our staging cluster is healthy?",
        "It is raining in Paris?",
    ],
)
def test_a_question_asks_even_when_it_starts_like_scene_setting(text):
    # _asks checks clause.endswith("?"), but it is given the clause with the "?" stripped
    assert [(c.text, c.asks) for c in clauses_of(text)] == [(text.rstrip("?"), True)]


@pytest.mark.parametrize(
    "text",
    [
        "schedule the launch review for September 5, 2023 at 15:30",
        "check the weather in Paris on August 1, 2023 around noon",
    ],
)
def test_the_comma_of_a_date_does_not_split_the_clause(text):
    assert [c.text for c in clauses_of(text)] == [text]


def test_one_word_fragments_and_empty_text_are_not_clauses():
    assert clauses_of("") == []
    assert clauses_of("thanks!") == []
    assert [c.text for c in clauses_of("restart the cache, thanks")] == ["restart the cache"]


def test_an_abbreviation_does_not_end_the_sentence():
    clauses = clauses_of("Book an appointment with Dr. Smith about my flu. Then call Mr. Jones")
    assert [c.text for c in clauses] == [
        "Book an appointment with Dr. Smith about my flu",
        "Then call Mr. Jones",
    ]


def test_a_street_abbreviation_ends_the_sentence_before_a_capital():
    # "Elm St. Once done, …": the street ends the sentence, and "once done" orders the list
    text = "Send the picture to 12 Elm St. Once done, list it on eBay. Then fly to St. Louis"
    clauses = clauses_of(text)
    assert [c.text for c in clauses] == [
        "Send the picture to 12 Elm St",
        "list it on eBay",
        "Then fly to St. Louis",
    ]
    assert clauses[1].connective == "once"
    assert [c.text for c in clauses_of("Meet me at Main St. station, then call Bob")] == [
        "Meet me at Main St. station",
        "call Bob",
    ]


def test_quoted_text_is_never_split():
    text = (
        "Text Bob 'Build is green. Deploy starts now, then the smoke tests.' Then borrow "
        "'Landlord and Tenant Law' from the library"
    )
    assert [(c.text, c.connective) for c in clauses_of(text)] == [
        ("Text Bob 'Build is green. Deploy starts now, then the smoke tests.'", ""),
        ("borrow 'Landlord and Tenant Law' from the library", "then"),
    ]


def test_the_meaning_of_a_clause_leaves_out_a_quoted_message_but_keeps_a_title():
    message, title = clauses_of("Text Bob 'the deploy failed, rolling back' and play 'Heroes'")
    assert message.meaning == "Text Bob '…'"
    assert title.meaning == "play 'Heroes'"


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("send Dana a message that the build is green", "send Dana a message"),
        ("let the team know that the deploy failed on staging", "let the team know a message"),
        ("email bo@x.io stating that the api is up", "email bo@x.io stating a message"),
        ("post to #dev that auth is live on staging", "post to #dev a message"),
        ("announce in #ops that the freeze starts at noon", "announce in #ops a message"),
        # a short one is kept: it may say what to do ("make sure that it runs")
        ("tell Dana that it shipped", "tell Dana that it shipped"),
        # "that" after no word for telling is no message
        ("make sure that the api is deployed now", "make sure that the api is deployed now"),
    ],
)  # fmt: skip
def test_the_meaning_of_a_clause_leaves_out_a_reported_message(text, meaning):
    (clause,) = clauses_of(text)
    assert clause.meaning == meaning


@pytest.mark.parametrize(
    ("text", "of", "meaning"),
    [
        ("remind me at 9am to check the deploy", "check the deploy",
         "set a reminder for me at 9am"),
        ("remind me tomorrow at 9am to review the PR", "review the PR",
         "set a reminder for me tomorrow at 9am"),
        # when it is said after what to do, it is still when to remind
        ("remind me to review the PR at 10:00 AM tomorrow", "review the PR",
         "set a reminder for me at 10:00 AM tomorrow"),
        ("set a reminder to take my medicine at 8 p.m.", "take my medicine",
         "set a reminder at 8 p.m"),
        ("Remind #ops on Friday to rotate the keys", "rotate the keys",
         "set a reminder for #ops on Friday"),
        ("remind ops@x.io in 10 minutes to check the canary", "check the canary",
         "set a reminder for ops@x.io in 10 minutes"),
    ],
)  # fmt: skip
def test_what_a_timed_reminder_is_of_is_its_text_not_a_step(text, of, meaning):
    span = reminder_of(text)
    assert span is not None
    assert text[span[0] : span[1]] == of
    (clause,) = clauses_of(text)
    assert clause.meaning == meaning


@pytest.mark.parametrize(
    "text",
    [
        "remind me to pay the electricity bill",  # no time: read as asking for the payment
        "remind me tomorrow about the trip to Paris",  # "to Paris" is where, not what to do
        "I reminded them to deploy at noon",
    ],
)
def test_a_reminder_without_a_time_or_a_to_do_is_read_as_it_is(text):
    assert reminder_of(text) is None
    (clause,) = clauses_of(text)
    assert clause.meaning == text


@pytest.mark.parametrize(
    ("text", "event"),
    [
        # the question mark is the request's, not the event's
        ("Could you order a pizza to 12 Elm Street once the books arrive?", "the books arrive"),
        ("Please tidy up the house before they arrive.", "they arrive"),
        ("Can you get my car ready while I finish preparing?", "I finish preparing"),
        # what the speaker is doing meanwhile
        (
            "I'd like a pizza while working on the slides for the meeting",
            "working on the slides for the meeting",
        ),
        ("Keep me posted while waiting for the delivery", "waiting for the delivery"),
    ],
)
def test_a_clause_saying_when_after_once_or_before_is_an_event_not_a_request(text, event):
    *_, clause = clauses_of(text)
    assert clause.text == event
    assert clause.event and not clause.asks
    assert clause.only_conditions


def test_an_event_clause_passes_no_connective_on():
    """ "… while I relax? Then, …": the next clause follows "then", not "while" (it would run
    alongside the step before)."""
    text = "Play some jazz while I relax? Then get the robot to clean the floor"
    _, relax, clean = clauses_of(text)
    assert relax.event
    assert clean.connective == "then"


@pytest.mark.parametrize(
    "text",
    [
        "Could you check its availability before I proceed to borrow it?",  # a next step
        "order a pizza while you book the cab",  # a request to "you"
        "book a cab after you order the pizza",
        "drive me home while tuning into a movie for me",  # done for the speaker: asked
        "check the weather before booking the hotel",  # only "while" says what goes on
    ],
)
def test_what_the_speaker_does_next_or_asks_for_is_no_event(text):
    assert not any(c.event for c in clauses_of(text)[1:2])


def test_an_event_of_success_gates_what_asks_for_it():
    """ "deploy billing once the tests pass": the tests are a step to run first."""
    deploy, tests = clauses_of("deploy billing once the tests pass")
    assert deploy.asks and not deploy.event
    assert tests.event and tests.gates
    assert tests.earlier


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("deploy billing when the tests pass", "when"),
        ("deploy billing to staging if the tests on kaizen pass", "if"),
        ("restart the api when the migration succeeds", "when"),
        ("post to #dev if the build is green", "if"),
    ],
)
def test_a_trailing_condition_that_something_succeeds_gates_what_comes_before(text, word):
    """ "when" and "if" before a success at the end of a request split it like "once": the
    success is a step to run first."""
    step, gate = clauses_of(text)
    assert step.asks and not step.gates
    assert (gate.connective, gate.event, gate.gates, gate.earlier) == (word, True, True, True)


@pytest.mark.parametrize(
    "text",
    [
        # a condition on how something is, or a "when" that is no success: one clause
        "page the on-call if billing is down",
        "tell me when you are ready",
        "remind me when the meeting starts",
        "deploy billing when the tests pass on staging",
    ],
)
def test_a_trailing_when_or_if_that_is_no_success_splits_nothing(text):
    assert [c.text for c in clauses_of(text)] == [text]


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("deploy billing once the tests on kaizen pass", "run the tests on kaizen"),
        ("deploy billing when the build is green", "run the build"),
        # the one waited on is no thing named: the words as they are (after the clause
        # before, since alone they say too little)
        ("deploy billing once they pass", "deploy billing, they pass"),
    ],
)
def test_a_success_waited_on_is_embedded_as_running_it(text, asked):
    assert clauses_of(text)[1].asked == asked


@pytest.mark.parametrize(
    "lead", ["To round things up", "To wrap it all up", "To finish it all off", "To sum up"]
)
def test_a_phrase_that_ends_the_list_is_a_finally_not_a_clause(lead):
    text = f"Deploy billing to staging. {lead}, post the release notes to #ops"
    assert [(c.text, c.connective) for c in clauses_of(text)] == [
        ("Deploy billing to staging", ""),
        ("post the release notes to #ops", "finally"),
    ]


def test_initials_end_the_sentence_only_before_a_capital():
    text = "I need a U.S. passport for my trip. Then book a flight"
    assert [c.text for c in clauses_of(text)] == [
        "I need a U.S. passport for my trip",
        "Then book a flight",
    ]
    assert [c.text for c in clauses_of("I moved to the U.S. Could you book a flight?")] == [
        "I moved to the U.S",
        "Could you book a flight",
    ]


def test_a_request_that_says_nothing_itself_joins_the_scene_before_it():
    text = "I haven't paid my internet bill yet. Could you do that for me?"
    clauses = clauses_of(text)
    assert len(clauses) == 1
    assert clauses[0].text == text.rstrip("?")
    assert clauses[0].asks


@pytest.mark.parametrize(
    "request_text",
    [
        "I might need a car in Boston on Monday, would you help me book?",
        "There's this film 'Heat' on my list. Could you play it for me?",
        "I owe Ann $20. Can you arrange the transfer?",
    ],
)
def test_a_clause_that_says_little_is_read_after_the_clause_before_it(request_text):
    before, after = clauses_of(request_text)
    assert before.lead_in == "" and before.meaning == before.text
    assert after.lead_in == before.text
    assert after.meaning == f"{before.text}, {after.text}"
    assert after.text in request_text  # its own text (and position) stay its own


def test_a_clause_that_names_what_it_wants_has_no_lead_in():
    clauses = clauses_of("I have a trip on Monday. Could you book a car for it?")
    assert [c.lead_in for c in clauses] == ["", ""]


def test_courtesy_alone_is_not_a_clause():
    clauses = clauses_of("Can you assist me? Deploy the api to staging. And finally, thanks!")
    assert [c.text for c in clauses] == ["Deploy the api to staging"]


@pytest.mark.parametrize(
    ("text", "earlier"),
    [
        ("consult the lawyer. Prior to that, print the brief", [False, True]),
        ("consult the lawyer. Before that, print the brief", [False, True]),
        ("order me a taxi once the package arrives", [False, True]),
        ("send the invoice after the payment clears", [False, True]),
        ("consult the lawyer. After that, print the brief", [False, False]),
        ("consult the lawyer. Once that is done, print the brief", [False, False]),
    ],
)
def test_words_that_put_a_clause_before_the_one_mentioned_before_it(text, earlier):
    assert [c.earlier for c in clauses_of(text)] == earlier


def test_first_in_a_later_clause_says_it_comes_first():
    clauses = clauses_of("book the flight, but first check the weather in Paris")
    assert [c.first for c in clauses] == [False, True]
    clauses = clauses_of("I have a lot to do. First, print my boarding pass")
    assert clauses[-1].first


@pytest.mark.parametrize(
    "text",
    [
        "Book the flight. Prior to our trip, renew my passport",
        "Book the flight. However, prior to our trip, I also need my passport renewed",
        "Book the flight. Before the trip, renew my passport",
        "Book the flight, but before I go, renew my passport",
    ],
)
def test_a_clause_saying_only_before_what_is_not_a_clause_but_orders_the_next(text):
    book, renew = clauses_of(text)
    assert book.text == "Book the flight"
    assert "passport" in renew.text
    assert renew.earlier


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("I have a meeting at 8 tomorrow. Can you set an alarm?", True),
        ("I'm currently at a meeting downtown. Can you book a taxi?", True),
        ("I've got an important meeting at 8:00 AM. Can you set an alarm?", True),
        ("I'm attending a conference in May. Can you book a hotel?", True),
        # a need, not a circumstance
        ("I have a package to send. Can you book a courier?", False),
        ("I'm planning a trip to Paris. Can you book a flight?", False),
    ],
)
def test_a_clause_that_only_states_what_the_speaker_has_or_is_at(text, states):
    first = clauses_of(text)[0]
    assert not first.asks
    assert first.only_states is states


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("Once the meeting is over, I'd love to sell my vase.", True),
        ("After the rollback of auth, check the status of auth.", True),
        ("When the tests pass, open a pull request.", True),
        ("While I am attending, can you print the agenda?", True),
        # ordering words, not an event to wait for
        ("After that, I have an electricity bill to pay.", False),
        ("I'm planning a trip to Paris. Can you book a flight?", False),
    ],
)
def test_a_clause_that_only_says_when_what_follows_happens(text, condition):
    first = clauses_of(text)[0]
    assert first.only_conditions is condition


@pytest.mark.parametrize(
    ("text", "asks", "refuses"),
    [
        ("Don't deploy billing on a Friday", False, True),
        ("please don't page the on-call", False, True),
        ("never restart the api during business hours", False, True),
        ("I don't want to worry about transport", False, True),
        ("I don't need the staging deploy anymore", False, True),
        ("we no longer need the canary", False, True),
        ("I won't be able to pay my card", False, False),
        ("we're not going to need the staging cluster", False, False),
        # these ask
        ("don't forget to post the notes to #dev", True, False),
        ("Do not fail to page the on-call", True, False),
        ("wouldn't it be great if you restarted the api?", True, False),
        ("please deploy the api but don't restart the cache", True, False),
    ],
)
def test_a_clause_opening_with_a_negation_asks_for_nothing(text, asks, refuses):
    clause = clauses_of(text)[0]
    assert (clause.asks, clause.refuses) == (asks, refuses)


@pytest.mark.parametrize(
    ("text", "asks", "stated"),
    [
        ("I need to post the release notes to #dev", True, True),
        ("I'm looking to sell my old laptop", True, True),
        ("I'd like to roll back billing", True, True),
        # "also" after the subject is in the clause, not a new one ("like to …" is no command)
        ("I'd also like to roll back billing", True, True),
        ("I'm also looking to sell my old laptop", True, True),
        ("We also need to rotate the keys", True, True),
        # a question, a request or an imperative asks outright
        ("Could you roll back billing?", True, False),
        ("I'd like you to roll back billing", True, False),
        ("roll back billing", True, False),
        ("I need you to page the on-call, please", True, False),
        ("A confirmation message to +1 555 0100 would be helpful", True, False),
        ("It would be great if you could roll back billing", True, False),
        # the scene asks nothing at all
        ("I have a deploy at noon", False, False),
    ],
)
def test_a_clause_may_ask_only_by_stating_a_need(text, asks, stated):
    (clause,) = clauses_of(text)
    assert (clause.asks, clause.stated) == (asks, stated)


@pytest.mark.parametrize(
    ("text", "asking"),
    [
        # someone else's state or doing, and a statement's second half, are no imperatives
        (
            "A customer recently made a purchase, and his order is ready and has just been "
            "shipped. Can you email him?",
            [False, False, False, True],
        ),
        ("They arrive at noon. Book a table for three", [False, True]),
        ("Their build is red. Please roll back billing", [False, True]),
        # an imperative still asks, and so does a question about someone else
        ("Have the robot clean the floor", [True]),
        ("Is the deploy done?", [True]),
        ("page her on-call, then restart billing", [True, True]),
    ],
)
def test_a_statement_about_someone_else_asks_for_nothing(text, asking):
    assert [c.asks for c in clauses_of(text)] == asking


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        (
            "I need a system so I don't forget to pick up items on my way home",
            "I need a system",
        ),
        ("set an alarm at 7 so that we won't forget the standup", "set an alarm at 7"),
        # a reminder of something to do is kept: it is what "remind" asks for
        ("remind me to pick up milk", "remind me to pick up milk"),
    ],
)
def test_what_the_speaker_must_not_forget_to_do_is_no_step(text, meaning):
    (clause,) = clauses_of(text)
    assert clause.meaning == meaning


@pytest.mark.parametrize(
    "text",
    [
        "Can you send an SMS to +1 555 010 0100, letting them know 'The deploy is done.'",
        "Text Bo, saying 'I am running late today'",
        "Page the on-call, telling them 'billing is down again now'",
        "Email bo@example.com, telling him that the deploy is done",
    ],
)
def test_what_to_say_after_a_comma_belongs_to_the_clause_before(text):
    (clause,) = clauses_of(text)
    assert clause.text == text.rstrip("?")


def test_telling_someone_to_do_something_after_a_comma_is_a_clause_of_its_own():
    assert [c.text for c in clauses_of("Text Bo, telling him to stop")] == [
        "Text Bo",
        "telling him to stop",
    ]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (
            "I have a call at 3. Post that, I need to apply for a passport",
            [("I have a call at 3", ""), ("I need to apply for a passport", "after")],
        ),
        # asked for, "post that" is a step
        ("run the tests, then post that", [("run the tests", ""), ("post that", "then")]),
        ("run the tests. Post that, please.", [("run the tests", ""), ("Post that", "")]),
        ("Post that to #dev", [("Post that to #dev", "")]),
    ],
)
def test_post_that_then_a_comma_means_after_that(text, read):
    assert [(c.text, c.connective) for c in clauses_of(text)] == read


def test_also_after_a_subject_does_not_split_its_clause_but_also_between_clauses_does():
    texts = [
        c.text for c in clauses_of("I have a trip in May, and I'm also looking to sell my car")
    ]
    assert texts == ["I have a trip in May", "I'm also looking to sell my car"]
    assert [c.text for c in clauses_of("deploy billing to staging also run the tests")] == [
        "deploy billing to staging",
        "run the tests",
    ]


@pytest.mark.parametrize(
    ("text", "describes"),
    [
        ("The checkout service is down in production", True),
        ("Our staging cluster looks unhealthy since the deploy", True),
        ("my Billing service is due for a deploy", True),
        ("Billing is throwing 500s since 10am", True),  # a statement, not an imperative
        # the speaker, or what there is
        ("I am at a meeting downtown", False),
        ("There's a deploy at noon", False),
        ("It looks like rain", False),
        # a request is no description
        ("please check why the api is down", False),
    ],
)
def test_a_clause_that_only_says_how_something_is(text, describes):
    assert clauses_of(text)[0].describes is describes


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("post to #dev: deploy is done", "post to #dev a message"),
        ("send Bo a note: the api is back", "send Bo a note a message"),
        # a colon that labels an address, or sits in a time, starts no message
        (
            "tell John (via email: john@example.com) about it",
            "tell John (via email: john@example.com) about it",
        ),
        ("say at 1:55 PM that we start", "say at 1:55 PM that we start"),
    ],
)
def test_what_follows_a_colon_after_a_word_for_telling_is_a_message(text, meaning):
    (clause,) = clauses_of(text)
    assert clause.meaning == meaning


@pytest.mark.parametrize(
    ("text", "gates"),
    [
        ("If the tests for repo kaizen pass, deploy it", True),
        ("once the build is green, post to #dev", True),
        ("when the migration succeeds, restart the api", True),
        # waiting for an event, or a condition on how something is: nothing to run first
        ("Once the meeting is over, post the notes", False),
        ("If it's fine, book a flight", False),
    ],
)
def test_a_clause_that_makes_what_follows_wait_for_a_success(text, gates):
    assert clauses_of(text)[0].gates is gates


@pytest.mark.parametrize(
    ("text", "as_what"),
    [
        ("As a note for later, record the call", True),
        ("as a preventive measure, restart the api", True),
        # a request, or a longer statement, is more than a role
        ("as soon as you can, restart the api", False),
        ("As a team we have decided to deploy on Fridays", False),
    ],
)
def test_a_phrase_saying_only_in_what_role_asks_for_nothing(text, as_what):
    assert clauses_of(text)[0].only_says_as_what is as_what


@pytest.mark.parametrize(
    "text",
    [
        "Deliver the box to 123 Main Street, New York",
        "I need legal advice from my attorney, John Doe",
        "watch the movie related to our course, Computer Science 101",
        # an address, too
        "please send a cleaning report to my friend, johndoe@example.com",
        "page the on-call, +1 555 010 0100",
        "post the notes for my team, #dev",
    ],
)
def test_a_name_after_a_comma_belongs_to_the_clause_before(text):
    (clause,) = clauses_of(text)
    assert clause.text == text
    # a value, not what the clause asks for: its meaning leaves the name out
    assert clause.meaning == text.rsplit(",", 1)[0]


def test_a_capitalised_connective_after_a_comma_still_starts_a_clause():
    clauses = clauses_of("deploy the api, First, run the tests")
    assert [c.text for c in clauses] == ["deploy the api", "run the tests"]
    assert clauses[1].first


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("if they pass deploy kaizen", ["if they pass", "deploy kaizen"]),
        ("once the build is green post to #dev", ["once the build is green", "post to #dev"]),
        ("if billing is down page the on-call", ["if billing is down", "page the on-call"]),
        ("if it's unhealthy roll it back", ["if it's unhealthy", "roll it back"]),
        ("if the build fails open a ticket", ["if the build fails", "open a ticket"]),
        # a state that is no status word: one clause ("on its way", "in a bad state")
        ("once the food is on its way", ["once the food is on its way"]),
        ("if the api is in a bad state restart it", ["if the api is in a bad state restart it"]),
        # what follows the success is no new clause: a word of the condition, or a name
        ("if the tests pass on staging", ["if the tests pass on staging"]),
        ("once the build passes QA review", ["once the build passes QA review"]),
    ],
)
def test_a_condition_run_into_what_to_do_then_is_two_clauses(text, pieces):
    assert [c.text for c in clauses_of(text)] == pieces


@pytest.mark.parametrize(
    ("text", "again"),
    [
        ("check the weather in Berlin and in Paris", True),
        ("check the status of billing and of auth too", True),
        # the same place again, a purpose, or a phrase not joined by "and"
        ("check the weather in Berlin and in Berlin", False),
        ("buy a vacuum from Amazon and to stay ahead", False),
        ("check the weather in Berlin. In Paris", False),
    ],
)
def test_a_phrase_after_and_that_names_something_else_is_the_same_again(text, again):
    earlier, *rest = clauses_of(text)
    assert bool(rest) and same_again_for(earlier.text, rest[0]) is again


def test_one_name_after_and_is_a_clause_read_with_the_one_before():
    """'… and auth' is not dropped as a word too short to ask: it asks the same for auth."""
    first, second = clauses_of("check the status of billing and auth")
    assert (second.text, second.connective) == ("auth", "and")
    assert second.lead_in == first.text
    # a word that is no name is not a clause of its own
    assert [c.text for c in clauses_of("check the status of billing and more")] == [
        "check the status of billing"
    ]


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("If billing is down, page the on-call", "billing is down"),
        ("when the build fails, open a ticket", "the build fails"),
        ("if they fail, open a ticket", ""),  # on "they" alone it says nothing
        ("Once it's done, post to #dev", ""),
        ("deploy billing, then page the on-call", ""),  # no condition at all
    ],
)
def test_the_condition_a_clause_sets(text: str, condition: str) -> None:
    assert read_clauses(text)[0].condition == condition


@pytest.mark.parametrize(
    ("text", "then"),
    [
        ("once that's taken care of ping me", "ping me"),
        ("once it is all sorted out page the on-call", "page the on-call"),
        ("once the meeting is over book a taxi home", "book a taxi home"),
    ],
)
def test_what_to_do_once_something_is_over_is_a_clause_of_its_own(text: str, then: str) -> None:
    clauses = read_clauses("deploy billing. " + text)
    assert clauses[-1].text == then
    assert clauses[-1].asks


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("is checkout healthy?", True),
        ("is checkout healthy", True),  # chat skips the question mark
        ("what's the p99 latency of checkout?", True),
        ("Deploy billing. Is it healthy now?", True),
        ("can you check billing?", False),  # a request put as a question
        ("how about a rollback?", False),
        ("Is it possible to book one for Friday?", False),
        ("do you mind paging the on-call?", False),
        ("have it delivered to 12 Elm St", False),  # "have": asks for a delivery
        ("text my friend, who lives in Paris", False),  # no question: who the friend is
        ("the order arrived and is ready", False),
    ],
)
def test_a_direct_question_is_told_from_a_request_put_as_one(text, question):
    clauses = clauses_of(text)
    assert clauses[-1].question is question
    assert not clauses[-1].question or clauses[-1].asks


def test_a_direct_question_is_embedded_as_a_request_to_find_its_answer_out():
    (question,) = clauses_of("is checkout healthy?")
    assert question.meaning == "is checkout healthy"  # the words: no "find" to match
    # a yes/no question in the order of a statement
    assert question.asked == "find out if checkout is healthy"
    (question,) = clauses_of("what's the p99 latency of checkout?")
    assert question.asked == "find out what's the p99 latency of checkout"
    (request,) = clauses_of("can you check billing?")
    assert request.asked == request.meaning


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Is the api up?", "find out if the api is up"),
        ("are payments failing?", "find out if payments are failing"),
        ("was billing down last night?", "find out if billing was down last night"),
        # a question with no statement order to restore: the words as they are
        ("did the tests pass?", "find out did the tests pass"),
    ],
)
def test_a_yes_no_question_is_embedded_in_the_order_of_a_statement(text, asked):
    (question,) = clauses_of(text)
    assert question.asked == asked
