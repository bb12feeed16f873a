"""The offline embeddings inside chromadb: a persistent collection made with them can be
reopened — by a fresh client, or another process — without naming the function again, and
nothing is downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from knowledge.search.embedding_function import NAME, MiniLMEmbeddingFunction

TOOLS = {
    "deploy": "Deploy a service version to an environment",
    "rollback": "Roll a service back to its previous release",
    "page": "Page the on-call engineer about an incident",
    "post": "Post a message to a chat channel",
}


def client(path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_a_collection_made_with_it_ranks_by_meaning(tmp_path):
    collection = client(tmp_path).create_collection(
        "tools", embedding_function=MiniLMEmbeddingFunction()
    )
    collection.add(ids=list(TOOLS), documents=list(TOOLS.values()))
    found = collection.query(query_texts=["undo the last deployment"], n_results=2)
    assert found["ids"][0][0] == "rollback"
    found = collection.query(query_texts=["wake up whoever is on call"], n_results=1)
    assert found["ids"][0] == ["page"]
    assert collection.configuration_json["embedding_function"]["name"] == NAME


def test_a_reopened_collection_finds_the_function_by_its_name(tmp_path):
    made = client(tmp_path).create_collection("tools", embedding_function=MiniLMEmbeddingFunction())
    made.add(ids=list(TOOLS), documents=list(TOOLS.values()))
    script = (
        "import chromadb, knowledge.search.embedding_function\n"
        "from chromadb.config import Settings\n"
        f"c = chromadb.PersistentClient(path={str(tmp_path)!r}, "
        "settings=Settings(anonymized_telemetry=False))\n"
        "col = c.get_collection('tools')\n"
        "print(col.query(query_texts=['tell the team in a channel'], n_results=1)['ids'][0][0])\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_PROXY": "*", "http_proxy": "http://127.0.0.1:9"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "post"
