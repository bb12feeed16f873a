"""BM25 over tool texts, and reciprocal rank fusion."""

from __future__ import annotations

import pytest

from knowledge.search.fusion import reciprocal_rank_fusion
from knowledge.search.lexical import BM25, literally, modifiers, stem, words


def test_words_split_identifiers_drop_stop_words_and_meet_across_forms():
    assert words("deploy_service to the stagingEnv") == ["deploy", "servic", "stage", "env"]
    assert words("staging") == words("stage") == ["stage"]
    assert stem("deploys") == stem("deploying") == stem("deployed") == "deploy"
    assert stem("running") == "run" and stem("stopped") == "stop"
    # … but a double l, s or z is the word's own: "installing" asks to install
    assert stem("installing") == stem("installed") == stem("install") == "install"
    assert stem("passed") == "pass" and stem("buzzing") == "buzz" and stem("billing") == "bill"
    assert stem("policies") == stem("policy") and stem("movies") == stem("movie")
    assert stem("bus") == "bus"  # too short to trim
    assert stem("drive") == stem("driving") == stem("drives") == "drive"
    assert stem("update") == stem("updated") == stem("updating") == stem("updates")
    # a silent e stays where it tells words apart; "news" is no plural
    assert stem("care") == stem("caring") != stem("car") == stem("cars")
    assert stem("news") != stem("new") and stem("taxes") == "tax"
    assert stem("free") == "free"  # a silent e only after a consonant
    # "not" is a stop word: a negation names no note tool
    assert words("do not forget") == ["forget"] and words("take notes") == ["take", "note"]
    # a contraction's or possessive's ending is no word: "what's" shares nothing with "email's"
    assert words("what's the email\u2019s text") == ["email", "text"]
    assert words("we'll see, don't we") == ["see", "don"]


def test_brand_words_with_one_lowercase_letter_first_stay_whole():
    """The word "iPhone" is a product, not "i" + "phone" (which would point at the phone
    bill), while identifiers still split at camelCase."""
    assert words("a new iPhone from eBay") == ["new", "iphon", "ebay"]
    assert words("sendEmail fetchURL") == ["send", "email", "fetch", "url"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("consult Dr. Smith", ["consult", "doctor", "smith"]),
        ("ask Prof Jones", ["ask", "professor", "jone"]),
        ("drive to 12 Party Dr. Then stop", ["drive", "12", "parti", "dr", "stop"]),
        ("Dr Who", ["doctor", "who"]),
    ],
)
def test_a_title_before_a_name_is_the_word_it_stands_for(text, found):
    assert words(text) == found


def test_idioms_are_read_as_what_they_mean():
    text = "I've been feeling Under the Weather, and I have bills to attend to"
    assert literally(text) == "I've been feeling unwell, and I have bills to handle"
    assert "weather" not in words(text)
    assert "attend" not in words(text)
    assert words("what is the weather in Paris") == ["weather", "paris"]  # only the idiom
    assert literally("attend the weekly meeting") == "attend the weekly meeting"
    # music to "set the mood" asks for nothing to set (no alarm, no status)
    assert "set" not in words("play some soft music to set the mood")


def test_bm25_ranks_the_document_sharing_the_rare_words_first():
    index = BM25(
        [
            "Deploy a service version to an environment",
            "Roll a service back to its previous release",
            "Post a message to a chat channel",
        ]
    )
    assert [i for i, _ in index.rank("roll back the release")] == [1]
    ranked = index.rank("post the release notes to the channel")
    assert ranked[0][0] == 2
    assert index.rank("nothing in common") == []
    assert index.scores("")[0] == 0.0


def test_bm25_prefers_shorter_documents_for_the_same_match():
    index = BM25(["deploy", "deploy a service with many extra words about other things"])
    assert [i for i, _ in index.rank("deploy")] == [0, 1]


def test_rrf_rewards_agreement_between_rankings():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]])
    assert [name for name, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_rrf_keeps_items_only_one_ranking_found_and_checks_weights():
    fused = dict(reciprocal_rank_fusion([["a"], ["z"]], weights=[2.0, 1.0]))
    assert fused["a"] > fused["z"]
    with pytest.raises(ValueError, match="2 weights for 1 rankings"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm interested in software engineering", {"softwar": {"engineer"}}),
        ("install a video conferencing app", {"video": {"conferenc"}}),
        # the word stands on its own somewhere else too: it may still name something
        ("a video conferencing app, then a video call", {}),
        # an -ing form with an object is a verb: "a note reminding me", "a package arriving"
        ("put a note reminding me to pay", {}),
        ("my package arriving today", {}),
        ("the latest news regarding electric cars", {}),  # a preposition
        ("the online meeting", {"onlin": {"meet"}}),
    ],
)
def test_words_that_only_qualify_an_activity_are_modifiers(text, expected):
    assert modifiers(text) == expected


def test_chat_shorthand_is_written_out():
    assert (
        literally("pls open a PR for prod asap") == "please open a pull request for production soon"
    )
    # the acronym only in capitals: "pr" in a word or in lower case is no pull request
    assert literally("a pr and a PRO plan, products") == "a pr and a PRO plan, products"
