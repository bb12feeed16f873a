"""The tool index: incremental sync (only changed tools embedded) and hybrid search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from chromadb.api.types import Documents, Embeddings

from knowledge.search import index as index_module
from knowledge.search.catalog import CatalogEntry, entries_from_registry
from knowledge.search.embedding_function import MiniLMEmbeddingFunction
from knowledge.search.index import ToolIndex


class CountingEmbeddings(MiniLMEmbeddingFunction):
    """Counts the texts it embeds."""

    embedded: list[str] = []  # noqa: RUF012 - shared on purpose: chromadb may copy the function

    def __call__(self, input: Documents) -> Embeddings:
        CountingEmbeddings.embedded.extend(input)
        return super().__call__(input)


def entry(name: str, description: str, **params: str) -> CatalogEntry:
    properties: dict[str, Any] = {
        p: {"type": "string", "description": d} for p, d in params.items()
    }
    return CatalogEntry(
        name=name, description=description, parameters={"type": "object", "properties": properties}
    )


FLEET = [
    entry("fleet.deploy", "Deploy a service version to an environment", service="The service"),
    entry("fleet.rollback", "Roll a service back to its previous release", service="The service"),
    entry("oncall.page", "Page the on-call engineer about an incident", summary="What happened"),
    entry("chat.post", "Post a message to a chat channel", channel="Where", text="What to say"),
    entry("tickets.open", "Open a ticket in the issue tracker", title="The ticket's title"),
]


def test_sync_embeds_only_what_changed_and_drops_what_is_gone(tmp_path):
    CountingEmbeddings.embedded = []
    index = ToolIndex(tmp_path, embedding_function=CountingEmbeddings())
    first = index.sync(FLEET)
    assert first.added == sorted(e.name for e in FLEET) and first.unchanged == 0
    assert len(CountingEmbeddings.embedded) == 5

    CountingEmbeddings.embedded = []
    changed = [*FLEET[:3], entry("chat.post", "Post a message to a Slack channel"), FLEET[4]]
    second = ToolIndex(tmp_path, embedding_function=CountingEmbeddings()).sync(changed[:4])
    assert second.updated == ["chat.post"]
    assert second.removed == ["tickets.open"]
    assert second.added == [] and second.unchanged == 3
    assert CountingEmbeddings.embedded == [changed[3].search_text]


def test_search_finds_tools_by_meaning_and_by_words(tmp_path):
    index = ToolIndex(tmp_path)
    index.sync(FLEET)
    hits = index.search("undo the bad release of the payments service", k=3)
    assert hits[0].name == "fleet.rollback"
    assert hits[0].dense_rank is not None and hits[0].score > 0
    assert index.search("wake up whoever is on call", k=1)[0].name == "oncall.page"
    assert index.search("file a ticket", k=1)[0].name == "tickets.open"
    assert len(index.search("anything", k=10)) == 5


def test_an_empty_index_finds_nothing(tmp_path):
    index = ToolIndex(tmp_path)
    index.sync([])
    assert index.search("deploy") == []


def test_a_tool_s_text_words_are_its_name_description_and_params_index_words(tmp_path):
    index = ToolIndex(tmp_path)
    index.sync(FLEET)
    words = index.text_words("oncall.page")
    assert {"oncall", "page", "call", "engineer", "incident", "summari", "happen"} <= words
    assert "deploy" not in words
    assert index.text_words("no.such_tool") == frozenset()


def test_registry_tools_become_entries_with_their_parameters():
    from engine.tools.builtin import BuiltinToolsConfig, builtin_registry

    entries = entries_from_registry(builtin_registry(BuiltinToolsConfig()), source="builtin")
    by_name = {e.name: e for e in entries}
    assert "http.request" in by_name
    text = by_name["http.request"].search_text
    assert text.startswith("http request") and "url" in text
    assert by_name["file.append"].side_effect == "mutating"


def test_parameter_examples_come_from_enums_examples_and_descriptions():
    shop = CatalogEntry(
        name="shop.buy",
        description="Buy a product from a website",
        parameters={
            "type": "object",
            "properties": {
                "website": {"type": "string", "description": "Where to buy, eg. Amazon, Ebay etc."},
                "speed": {"type": "string", "enum": ["standard", "express", 3]},
                "note": {"type": "string", "examples": ["gift wrap"]},
                "channel": {"type": "string", "description": "Such as Slack or email."},
                "broken": "not a schema",
            },
        },
    )
    assert shop.example_values == [
        *("Amazon", "Ebay", "standard", "express", "gift wrap", "Slack", "email")
    ]
    odd = CatalogEntry(name="x", description="x", parameters={"properties": []})
    assert odd.example_values == []


def test_a_clause_naming_a_parameter_example_points_at_its_tool(tmp_path, monkeypatch):
    entries = [
        entry("shop.buy", "Buy a product from a website", website="The website, eg. Amazon, Ebay"),
        entry("market.sell", "Sell an item at a store", store="The store, eg. Amazon, Etsy"),
        entry("ride.order", "Order a ride at a platform", platform="eg. Uber, Lyft"),
        entry("food.order", "Order food to be delivered", platform="eg. Uber Eats, Deliveroo"),
        entry("chat.post", "Post a message to a chat channel", channel="Where"),
    ]
    index = ToolIndex(tmp_path)
    index.sync(entries)
    column = {name: i for i, name in enumerate(index.names)}
    plain, amazon, eats, etsy = index.clause_scores(
        ["get me a lamp", "get me a lamp from Amazon", "get me pizza on Uber Eats", "on Etsy"]
    )
    # Amazon is listed by two tools: each gets half the bonus; Etsy by one: the whole bonus
    shop_gain = amazon[column["shop.buy"]] - plain[column["shop.buy"]]
    assert shop_gain > 0.1
    assert etsy[column["market.sell"]] > etsy[column["shop.buy"]]
    # "Uber Eats" names the food tool's example; the "Uber" inside it is not the ride tool's
    weight = index_module.EXAMPLE_WEIGHT
    monkeypatch.setattr(index_module, "EXAMPLE_WEIGHT", 0.0)
    (eats_unweighted,) = index.clause_scores(["get me pizza on Uber Eats"])
    gain = eats - eats_unweighted
    assert gain[column["food.order"]] == pytest.approx(weight)
    assert gain[column["ride.order"]] == pytest.approx(0.0, abs=1e-6)
    assert int(eats.argmax()) == column["food.order"]
    # a quoted value naming an example is what to write, not where to go
    monkeypatch.setattr(index_module, "EXAMPLE_WEIGHT", weight)
    quoted, bare = index.clause_scores(["note 'bought on Etsy'", "note: bought on Etsy"])
    monkeypatch.setattr(index_module, "EXAMPLE_WEIGHT", 0.0)
    quoted_unweighted, bare_unweighted = index.clause_scores(
        ["note 'bought on Etsy'", "note: bought on Etsy"]
    )
    sell = column["market.sell"]
    assert quoted[sell] == pytest.approx(quoted_unweighted[sell], abs=1e-6)
    assert bare[sell] - bare_unweighted[sell] == pytest.approx(weight)


def name_word_gain(index: ToolIndex, texts: list[str], monkeypatch: Any) -> Any:
    """The clause scores of ``texts`` and what the tools' name words add to them."""
    weighted = index.clause_scores(texts)
    monkeypatch.setattr(index_module, "NAME_WORD_WEIGHT", 0.0)
    gain = weighted - index.clause_scores(texts)
    monkeypatch.undo()
    return weighted, gain


def test_the_words_of_a_quoted_value_do_not_name_a_tool(tmp_path, monkeypatch):
    entries = [
        entry("music.play_by_title", "Play a song by its title", title="The song"),
        entry("movie.play_by_title", "Play a movie by its title", title="The movie"),
    ]
    index = ToolIndex(tmp_path)
    index.sync(entries)
    music = index.names.index("music.play_by_title")
    texts = ["watch 'The Sound of Music'", "watch The Sound of Music"]
    _, gain = name_word_gain(index, texts, monkeypatch)
    # "Music" in the title is not a request for the music tool; unquoted, it might be
    assert gain[0, music] == pytest.approx(0.0, abs=1e-6)
    assert gain[1, music] > 0.1


def test_a_name_word_before_an_activity_names_a_field_not_the_tool(tmp_path, monkeypatch):
    entries = [
        entry("software.install", "Install or update software on a computer", app="The app"),
        entry("video.call", "Start a video call with a contact", contact="Who to call"),
    ]
    index = ToolIndex(tmp_path)
    index.sync(entries)
    software, video = index.names.index("software.install"), index.names.index("video.call")
    texts = [
        "I'm interested in software engineering",
        "install a video conferencing app",
        "install the software, then start a video call with Bo",
    ]
    _, gain = name_word_gain(index, texts, monkeypatch)
    assert gain[0, software] == pytest.approx(0.0, abs=1e-6)  # a field of work
    assert gain[1, video] == pytest.approx(0.0, abs=1e-6)  # what kind of app
    assert gain[2, software] > 0.1 and gain[2, video] > 0.1  # the things themselves


def test_a_phrasal_verb_counts_as_the_one_word_a_tool_name_uses(tmp_path, monkeypatch):
    index = ToolIndex(tmp_path)
    index.sync(FLEET[:2])  # fleet.deploy, fleet.rollback
    rollback = index.names.index("fleet.rollback")
    weighted, gain = name_word_gain(index, ["roll back auth in staging"], monkeypatch)
    assert gain[0, rollback] > 0.1
    assert int(weighted[0].argmax()) == rollback


def test_a_request_for_several_things_finds_one_tool_per_thing(tmp_path):
    index = ToolIndex(tmp_path)
    index.sync(FLEET)
    query = (
        "Deploy version 2 of the service, the service that was rolled back to its previous "
        "release, then page the on-call engineer, and post a message in the chat channel"
    )
    hits = index.search(query, 3)
    assert {hit.name for hit in hits} == {"fleet.deploy", "oncall.page", "chat.post"}
    assert all(hit.dense_rank is not None and hit.dense_rank <= 3 for hit in hits)


def test_after_each_clause_s_best_a_close_second_to_an_unsure_clause_comes_first(tmp_path):
    """Clause 1 is sure of the deploy tool (0.9; rollback a distant 0.6); clause 2 is unsure
    (page 0.4, chat 0.38). The chat tool is likelier to be what was asked for than the
    rollback, though its score is lower."""
    index = ToolIndex(tmp_path)
    index.sync(FLEET)
    column = {name: i for i, name in enumerate(index.names)}
    per_clause = np.zeros((2, len(FLEET)), dtype=np.float32)
    fits = [{"fleet.deploy": 0.9, "fleet.rollback": 0.6}, {"oncall.page": 0.4, "chat.post": 0.38}]
    for row, scores in enumerate(fits):
        for name, score in scores.items():
            per_clause[row, column[name]] = score
    ranking = index._clause_first(per_clause)
    assert ranking[:4] == ["fleet.deploy", "oncall.page", "chat.post", "fleet.rollback"]


def test_a_hit_s_score_fuses_its_dense_and_lexical_ranks(tmp_path):
    """One clause: dense rank weighs 1, lexical rank LEXICAL_WEIGHT (0.5, the dense scores
    carry the tool-name words already); each rank r adds weight / (60 + r)."""
    index = ToolIndex(tmp_path)
    index.sync(FLEET)
    for hit in index.search("open a ticket about the failed deploy", k=5):
        expected = 1.0 / (60 + hit.dense_rank) if hit.dense_rank else 0.0
        if hit.lexical_rank:
            expected += 0.5 / (60 + hit.lexical_rank)
        assert hit.score == pytest.approx(expected, abs=1e-6)
