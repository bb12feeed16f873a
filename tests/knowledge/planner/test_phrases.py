"""Learning what people call each tool (and what they say that asks for no tool) from accepted
requests, and planning with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from engine.tools.builtin import builtin_registry
from engine.tools.builtin.config import BuiltinToolsConfig
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from engine.validation import validate_blueprint
from knowledge.history.views import ExemplarInfo
from knowledge.planner.offline import OfflinePlanner, OfflineSettings
from knowledge.planner.phrases import CLOSE_CALL, NO_TOOL_WEIGHT, PHRASE_WEIGHT, ToolPhrases
from knowledge.planner.planner import Planner
from knowledge.search.catalog import entry_from_spec
from knowledge.search.exemplars import ExemplarIndex
from knowledge.search.index import ToolIndex
from tests.knowledge.planner.test_offline_planner import SPECS, registry, spec

#: "Bolt" (a ride-hailing app) is not a word the model ties to "Order a cab ride".
LEARNED_REQUEST = "book a Bolt to 5 Main St"
SIMILAR_REQUEST = "book a Bolt to 12 Oak Avenue"
UNRELATED_REQUEST = "check the weather in Paris tomorrow"


def exemplar(request: str, steps: list[dict[str, Any]], exemplar_id: int = 1) -> ExemplarInfo:
    return ExemplarInfo(
        id=exemplar_id,
        request=request,
        blueprint={"name": "accepted", "steps": steps},
        workflow_id=1,
        version_id=1,
        accepted_how="button",
        accepted_by="U123",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


RIDE = exemplar(
    LEARNED_REQUEST, [{"id": "ride", "tool": "taxi.order", "params": {"address": "5 Main St"}}]
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ToolIndex:
    tool_index = ToolIndex(tmp_path_factory.mktemp("phrase-index"))
    tool_index.sync([entry_from_spec(s) for s in SPECS])
    return tool_index


@pytest.fixture(scope="module")
def phrases(index: ToolIndex) -> ToolPhrases:
    learned = ToolPhrases(index)
    assert learned.learn([RIDE]) == 1
    return learned


def boosts(phrases: ToolPhrases, index: ToolIndex, text: str) -> dict[str, float]:
    row = phrases.scores(index.embed_texts([text]), index.names)[0]
    return {name: float(value) for name, value in zip(index.names, row, strict=True) if value}


def test_an_accepted_request_is_remembered_as_a_phrase_for_its_tool(phrases):
    assert phrases.phrases == [LEARNED_REQUEST]
    assert phrases.tools == ["taxi.order"]
    assert phrases.vectors.shape[0] == 1


def test_a_similar_clause_boosts_the_learned_tool_only(phrases, index):
    boosted = boosts(phrases, index, SIMILAR_REQUEST)
    assert set(boosted) == {"taxi.order"}
    assert 0 < boosted["taxi.order"] <= PHRASE_WEIGHT


def test_an_unrelated_clause_gets_no_boost(phrases, index):
    assert boosts(phrases, index, UNRELATED_REQUEST) == {}


def test_scores_have_a_row_per_clause_and_a_column_per_tool(phrases, index):
    vectors = index.embed_texts([SIMILAR_REQUEST, UNRELATED_REQUEST])
    scores = phrases.scores(vectors, index.names)
    assert scores.shape == (2, len(index.names))
    assert np.all(scores >= 0)
    taxi = index.names.index("taxi.order")
    assert scores[0, taxi] > 0 and scores[1, taxi] == 0


def test_nothing_learned_boosts_nothing(index):
    empty = ToolPhrases(index)
    vectors = index.embed_texts([SIMILAR_REQUEST])
    assert not empty.scores(vectors, index.names).any()
    unknown = exemplar(LEARNED_REQUEST, [{"id": "r", "tool": "uber.call", "params": {}}])
    assert empty.learn([unknown]) == 0  # its blueprint names no indexed tool
    assert not empty.scores(vectors, index.names).any()


def test_each_clause_of_a_multi_step_request_goes_to_its_own_tool(index):
    learned = ToolPhrases(index)
    learned.learn(
        [
            exemplar(
                "Book a Bolt to 5 Main St, then post in #ops that I'm leaving",
                [
                    {"id": "ride", "tool": "taxi.order", "params": {"address": "5 Main St"}},
                    {
                        "id": "post",
                        "tool": "slack.post_message",
                        "params": {"channel": "#ops", "text": "leaving"},
                    },
                ],
            )
        ]
    )
    assert dict(zip(learned.phrases, learned.tools, strict=True)) == {
        "Book a Bolt to 5 Main St": "taxi.order",
        "post in #ops that I'm leaving": "slack.post_message",
    }


def test_learning_adds_to_what_is_known(index):
    learned = ToolPhrases(index)
    learned.learn([RIDE])
    page = exemplar(
        "wake up whoever is on call for Billing",
        [
            {
                "id": "page",
                "tool": "pagerduty.page",
                "params": {"service": "Billing", "message": "wake up"},
            }
        ],
        exemplar_id=2,
    )
    assert learned.learn([page]) == 2
    assert learned.tools == ["taxi.order", "pagerduty.page"]
    assert learned.vectors.shape[0] == 2


SCENE_EXEMPLARS = [
    exemplar(
        "Our tests keep failing on the payments repo. Could you page the on-call engineer for "
        "payments?",
        [{"id": "p", "tool": "pagerduty.page", "params": {"service": "payments", "message": "x"}}],
    ),
    exemplar(
        "I have a cab ride to the station at 9. Please post in #dev that I'm out",
        [{"id": "p", "tool": "slack.post_message", "params": {"channel": "#dev", "text": "x"}}],
        exemplar_id=2,
    ),
]


def test_the_nearest_remembered_clause_answered_by_a_tool_is_found_with_its_exemplar(index):
    learned = ToolPhrases(index)
    learned.learn(SCENE_EXEMPLARS)
    vector = index.embed_texts(["Could you page the on-call engineer for billing"])[0]
    found = learned.nearest(vector, "pagerduty.page")
    assert found is not None
    assert (found.phrase, found.tool, found.exemplar_id) == (
        "Could you page the on-call engineer for payments",
        "pagerduty.page",
        1,
    )
    assert 0.7 < found.similarity <= 1.0
    scene = learned.nearest(vector, None)
    assert scene is not None and scene.tool is None
    assert scene.phrase in (
        "Our tests keep failing on the payments repo",
        "I have a cab ride to the station at 9",
    )
    assert learned.nearest(vector, "weather.get") is None  # no accepted request used it


def test_a_clause_the_accepted_blueprint_has_no_step_for_is_remembered_as_asking_nothing(index):
    learned = ToolPhrases(index)
    assert learned.learn(SCENE_EXEMPLARS) == 4
    assert list(zip(learned.phrases, learned.tools, strict=True)) == [
        ("Our tests keep failing on the payments repo", None),
        ("Could you page the on-call engineer for payments", "pagerduty.page"),
        ("I have a cab ride to the station at 9", None),
        ("Please post in #dev that I'm out", "slack.post_message"),
    ]


def test_a_clause_like_one_that_asked_nothing_lowers_every_tool(index):
    learned = ToolPhrases(index)
    learned.learn(SCENE_EXEMPLARS)
    row = learned.scores(
        index.embed_texts(["Our tests keep failing on the billing repo"]), index.names
    )[0]
    assert np.all(row < 0)
    assert np.all(row >= -NO_TOOL_WEIGHT)


@pytest.mark.parametrize(
    ("request_text", "scene_tool", "asked_tool"),
    [
        (
            "Our tests keep failing on the billing repo. Could you page the on-call engineer "
            "for billing?",
            "ci.run_tests",
            "pagerduty.page",
        ),
        (
            "I have a cab ride to the airport at noon. Please post in #ops that I'm leaving",
            "taxi.order",
            "slack.post_message",
        ),
    ],
)
def test_scene_setting_people_accepted_no_step_for_stops_becoming_a_step(
    index, request_text, scene_tool, asked_tool
):
    cold = OfflinePlanner(index, registry()).plan(request_text)
    assert cold.blueprint is not None
    assert [s.tool for s in cold.blueprint.steps] == [scene_tool, asked_tool]
    learned = ToolPhrases(index)
    learned.learn(SCENE_EXEMPLARS)
    warm = OfflinePlanner(index, registry(), phrases=learned).plan(request_text)
    assert warm.blueprint is not None
    assert [s.tool for s in warm.blueprint.steps] == [asked_tool]
    scene = request_text.split(".")[0]
    remembered = next(e for e in SCENE_EXEMPLARS if e.request.split(".")[0][:12] == scene[:12])
    assert f"exemplar memory: no step for '{scene}', as accepted request #{remembered.id}" in (
        warm.explanation
    )
    assert warm.exemplar_ids == [remembered.id]


def test_asking_for_what_was_only_scene_setting_before_still_gets_the_tool(index):
    learned = ToolPhrases(index)
    learned.learn(SCENE_EXEMPLARS)
    warm = OfflinePlanner(index, registry(), phrases=learned).plan(
        "Run the tests of the billing repo"
    )
    assert warm.blueprint is not None
    assert [s.tool for s in warm.blueprint.steps] == ["ci.run_tests"]


def test_planning_warm_picks_the_tool_cold_planning_could_not(index, phrases):
    cold = OfflinePlanner(index, registry()).plan(SIMILAR_REQUEST)
    assert cold.blueprint is None  # the words alone fit no tool convincingly
    warm = OfflinePlanner(index, registry(), phrases=phrases).plan(SIMILAR_REQUEST)
    assert warm.blueprint is not None
    assert validate_blueprint(warm.blueprint, registry()).ok
    assert [(s.tool, s.params) for s in warm.blueprint.steps] == [
        ("taxi.order", {"address": "12 Oak Avenue"})
    ]
    assert warm.confidence > cold.confidence
    assert warm.explanation.endswith(
        f"exemplar memory: '{SIMILAR_REQUEST}' → taxi.order, as accepted request #{RIDE.id} "
        f"had it for '{LEARNED_REQUEST}'"
    )
    assert warm.exemplar_ids == [RIDE.id]


def test_learned_phrases_do_not_change_an_unrelated_plan(index, phrases):
    cold = OfflinePlanner(index, registry()).plan(UNRELATED_REQUEST)
    warm = OfflinePlanner(index, registry(), phrases=phrases).plan(UNRELATED_REQUEST)
    assert cold.blueprint is not None and warm.blueprint is not None
    assert [s.tool for s in warm.blueprint.steps] == [s.tool for s in cold.blueprint.steps]
    assert [s.tool for s in warm.blueprint.steps] == ["weather.get"]
    assert warm.confidence == cold.confidence
    assert warm.explanation == cold.explanation  # memory changed nothing, so says nothing
    assert warm.exemplar_ids == []


def test_a_remembered_request_does_not_outvote_the_opposite_action_on_the_same_thing(
    tmp_path_factory,
):
    """ "read notes.txt" and "write 'hello' to notes.txt" are as similar to MiniLM (0.76) as
    two phrasings of one request: what was accepted for one must not turn the other into it."""
    tools = builtin_registry(BuiltinToolsConfig(workspace=tmp_path_factory.mktemp("ws")))
    files = ToolRegistry([tools.get(name) for name in ("file.read", "file.write")])
    file_index = ToolIndex(tmp_path_factory.mktemp("file-phrases"))
    file_index.sync([entry_from_spec(tool.spec) for tool in files])
    learned = ToolPhrases(file_index)
    write = {"id": "w", "tool": "file.write", "params": {"path": "notes.txt", "content": "hello"}}
    learned.learn([exemplar("write 'hello' to notes.txt", [write])])
    vectors = file_index.embed_texts(["read the file missing.txt"])
    assert learned.scores(vectors, file_index.names)[0].max() > 0.3  # the vote is there …
    warm = OfflinePlanner(file_index, files, phrases=learned)
    for request in ("read notes.txt", "read the file notes.txt", "read the file missing.txt"):
        result = warm.plan(request)
        assert result.blueprint is not None, request
        assert [s.tool for s in result.blueprint.steps] == ["file.read"], request  # … unheeded


def _taxi_votes(phrases: ToolPhrases, index: ToolIndex) -> tuple[np.ndarray, int, int]:
    """Vectors of a clause the remembered ride request votes for, the taxi column and another."""
    vectors = index.embed_texts([SIMILAR_REQUEST])
    taxi = index.names.index("taxi.order")
    other = next(i for i, name in enumerate(index.names) if name != "taxi.order")
    assert phrases.scores(vectors, index.names)[0, taxi] > 0
    return vectors, taxi, other


def test_a_vote_settles_a_close_call(phrases, index):
    vectors, taxi, other = _taxi_votes(phrases, index)
    base = np.zeros((1, len(index.names)), dtype=np.float32)
    base[0, other], base[0, taxi] = 0.6, 0.6 - CLOSE_CALL / 2
    applied = phrases.apply(base, vectors, index.names, convincing=0.3)
    assert int(np.argmax(applied[0])) == taxi
    assert applied[0, other] == base[0, other]


def test_a_vote_does_not_overrule_a_clear_fit(phrases, index):
    vectors, taxi, other = _taxi_votes(phrases, index)
    base = np.zeros((1, len(index.names)), dtype=np.float32)
    base[0, other], base[0, taxi] = 0.6, 0.6 - 2 * CLOSE_CALL
    applied = phrases.apply(base, vectors, index.names, convincing=0.3)
    assert np.array_equal(applied, base)


def test_a_vote_decides_where_the_words_fit_no_tool_convincingly(phrases, index):
    vectors, taxi, other = _taxi_votes(phrases, index)
    base = np.zeros((1, len(index.names)), dtype=np.float32)
    base[0, other], base[0, taxi] = 0.25, 0.25 - 2 * CLOSE_CALL
    applied = phrases.apply(base, vectors, index.names, convincing=0.3)
    assert int(np.argmax(applied[0])) == taxi


def test_with_nothing_remembered_apply_returns_the_scores_unchanged(index):
    empty = ToolPhrases(index)
    base = np.full((1, len(index.names)), 0.4, dtype=np.float32)
    vectors = index.embed_texts([SIMILAR_REQUEST])
    assert np.array_equal(empty.apply(base, vectors, index.names, convincing=0.3), base)


def test_an_exemplar_learned_again_adds_nothing(index):
    learned = ToolPhrases(index)
    assert learned.learn([RIDE]) == 1
    assert learned.learn([RIDE]) == 1
    assert learned.vectors.shape[0] == 1


def test_a_remembered_plan_shapes_the_very_next_plan(index, tmp_path):
    offline = OfflinePlanner(index, registry(), phrases=ToolPhrases(index))
    planner = Planner(
        index, offline, exemplars=ExemplarIndex(tmp_path, embedding_function=index.embed)
    )
    assert planner.plan(SIMILAR_REQUEST).blueprint is None
    planner.remember(RIDE)
    planner.remember(RIDE)  # accepted twice: remembered once
    warm = planner.plan(SIMILAR_REQUEST)
    assert warm.blueprint is not None
    assert [s.tool for s in warm.blueprint.steps] == ["taxi.order"]
    assert warm.exemplar_ids == [RIDE.id]
    assert offline.phrases is not None and offline.phrases.phrases == [LEARNED_REQUEST]
    assert planner.plan(LEARNED_REQUEST).path.value == "exemplar"  # the same request: adapted


def _remembered_at(similarities: list[float]) -> np.ndarray:
    """Unit vectors whose cosine with the first axis is each of ``similarities``."""
    rows = np.zeros((len(similarities), len(similarities) + 1), dtype=np.float32)
    for i, similarity in enumerate(similarities):
        rows[i, 0] = similarity
        rows[i, i + 1] = np.sqrt(1 - similarity**2)
    return rows


def test_one_nearest_clause_does_not_outvote_four_that_agree(index):
    """A single near-duplicate attributed to another tool (attribution is a best guess) must
    not outweigh four slightly less similar clauses that agree."""
    memory = ToolPhrases(index)
    odd, agreed = index.names[0], index.names[1]
    memory.vectors = _remembered_at([0.95, 0.8, 0.8, 0.8, 0.8])
    memory.tools = [odd, agreed, agreed, agreed, agreed]
    memory.phrases = ["near"] + ["agreeing"] * 4
    memory.exemplar_ids = [1, 2, 3, 4, 5]
    query = np.zeros((1, 6), dtype=np.float32)
    query[0, 0] = 1.0
    votes = memory.scores(query, index.names)[0]
    assert votes[1] > 2 * votes[0] > 0


PARCEL_SPECS = [
    next(s for s in SPECS if s.name == "email.send"),
    spec(
        "parcel.ship",
        "Deliver a package to a street address.",
        package="What to deliver",
        destination="Where to deliver it",
    ),
    spec("sms.send", "Send a text message to a phone number.", phone_number="Number", text="Text"),
    spec("weather.get", "Get the weather forecast for a city.", city="The city"),
]
SHIPPED = exemplar(
    "send my sister the framed photo 'beach.jpg'",
    [{"id": "ship", "tool": "parcel.ship", "params": {"package": "beach.jpg"}}],
)


def test_memory_settles_a_call_a_tool_needing_an_address_nobody_gave_made_close(
    tmp_path_factory,
):
    """ "send my brother the framed print" fits the message tools best by its words, but names
    no email address or phone number for them: what people accepted for such sends (a parcel)
    settles it. Given an address, the message tool stands."""
    tools = ToolRegistry([SchemaTool(s) for s in PARCEL_SPECS])
    parcel_index = ToolIndex(tmp_path_factory.mktemp("parcel-phrases"))
    parcel_index.sync([entry_from_spec(s) for s in PARCEL_SPECS])
    learned = ToolPhrases(parcel_index)
    learned.learn([SHIPPED])
    request = "send my brother the framed print 'sunset.jpg'"
    words_alone = parcel_index.clause_scores([request])[0]
    best_by_words = parcel_index.names[int(np.argmax(words_alone))]
    assert best_by_words in ("email.send", "sms.send")  # no close call by the words alone
    assert words_alone.max() - words_alone[parcel_index.names.index("parcel.ship")] > CLOSE_CALL
    cold = OfflinePlanner(parcel_index, tools).plan(request)
    assert cold.blueprint is not None
    assert [s.tool for s in cold.blueprint.steps] == [best_by_words]
    warm = OfflinePlanner(parcel_index, tools, phrases=learned)
    shipped = warm.plan(request)
    assert shipped.blueprint is not None
    assert [(s.tool, s.params.get("package")) for s in shipped.blueprint.steps] == [
        ("parcel.ship", "sunset.jpg")
    ]
    emailed = warm.plan(f"{request} at bro@example.com")
    assert emailed.blueprint is not None
    assert [(s.tool, s.params["email_address"]) for s in emailed.blueprint.steps] == [
        ("email.send", "bro@example.com")
    ]


def test_a_scene_setting_clause_needs_a_better_fit_when_memory_takes_part(index, phrases):
    """Memory's votes add to a tool's score, so with memory a clause that only sets the scene
    must fit its tool better (:attr:`OfflineSettings.accept_scene_remembered`) to become a
    step, whatever memory says of it."""
    defaults = OfflineSettings()
    assert defaults.accept_scene_remembered > defaults.accept_scene
    settings = OfflineSettings(accept_scene=0.5, accept_scene_remembered=0.58)
    request_text = "I think billing may need a rollback. Can you post the notes to #dev?"
    cold = OfflinePlanner(index, registry(), settings=settings).plan(request_text)
    assert cold.blueprint is not None
    assert [s.tool for s in cold.blueprint.steps] == ["deploy.rollback", "slack.post_message"]
    warm = OfflinePlanner(index, registry(), phrases=phrases, settings=settings).plan(request_text)
    assert warm.blueprint is not None
    assert [s.tool for s in warm.blueprint.steps] == ["slack.post_message"]
