"""OpenAI embeddings as a search backend, against a stub ``/v1/embeddings`` server on 127.0.0.1
(the real openai client; deterministic bag-of-words vectors; nothing else is contacted)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from knowledge.search.catalog import CatalogEntry
from knowledge.search.embedding_backend import collection_suffix, make_embedding_function
from knowledge.search.embedding_function import MiniLMEmbeddingFunction
from knowledge.search.index import COLLECTION, ToolIndex
from knowledge.search.openai_embeddings import (
    NAME,
    EmbeddingBackendError,
    OpenAIEmbeddingFunction,
)

KEY = "sk-test-0123456789abcdef"
DIMENSIONS = 64


def fake_vector(text: str) -> list[float]:
    """Bag of words hashed into 64 buckets: texts sharing words point the same way."""
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"[a-z]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    vector[0] += 0.01  # never all zero
    return vector


@dataclass
class Stub:
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def make_handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = json.loads(raw)
            stub.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), **request}
            )
            if self.path != "/v1/embeddings":
                self.reply(404, {"error": {"message": f"no route {self.path}"}})
            elif request["model"] == "missing-model":
                self.reply(400, {"error": {"message": "model 'missing-model' does not exist"}})
            elif request["model"] == "crashing-model":
                self.reply(500, {"error": {"message": "internal error"}})
            else:
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(text)}
                    for i, text in enumerate(request["input"])
                ]
                self.reply(
                    200,
                    {
                        "object": "list",
                        "data": data[::-1],  # out of order: the client must sort by index
                        "model": request["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_API_KEY", "KAIZEN_OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    state = Stub()
    httpd = QuietServer(("127.0.0.1", 0), make_handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def function(stub: Stub, **options: Any) -> OpenAIEmbeddingFunction:
    return OpenAIEmbeddingFunction(
        options.pop("model", "fake-embed-1"),
        api_key=options.pop("api_key", KEY),
        base_url=stub.base_url,
        **options,
    )


def entry(name: str, description: str) -> CatalogEntry:
    return CatalogEntry(name=name, description=description, parameters={"type": "object"})


FLEET = [
    entry("fleet.deploy", "Deploy a service version to an environment"),
    entry("fleet.rollback", "Roll a service back to its previous release"),
    entry("oncall.page", "Page the on-call engineer about an incident"),
    entry("chat.post", "Post a message to a chat channel"),
    entry("tickets.open", "Open a ticket in the issue tracker"),
]


def test_vectors_are_batched_ordered_and_unit_length(stub: Stub):
    embed = function(stub, batch_size=2)
    texts = ["deploy the api", "page someone", "", "post in chat", "open a ticket"]
    vectors = embed(texts)
    assert [len(r["input"]) for r in stub.requests] == [2, 2, 1]
    assert {r["model"] for r in stub.requests} == {"fake-embed-1"}
    assert {r["auth"] for r in stub.requests} == {f"Bearer {KEY}"}
    assert {r["encoding_format"] for r in stub.requests} == {"float"}
    assert stub.requests[1]["input"][0] == " "  # the API refuses empty strings
    for text, vector in zip(texts, vectors, strict=True):
        expected = np.array(fake_vector(text or " "), dtype=np.float32)
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), rtol=1e-5)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_tool_index_syncs_and_searches_with_it(stub: Stub, tmp_path: Path):
    index = ToolIndex(tmp_path, embedding_function=function(stub))
    report = index.sync(FLEET)
    assert report.added == sorted(e.name for e in FLEET)
    assert sum(len(r["input"]) for r in stub.requests) == len(FLEET)
    hits = index.search("roll back the previous release")
    assert hits[0].name == "fleet.rollback"
    assert hits[0].dense_rank == 1
    assert index.collection.configuration_json["embedding_function"]["name"] == NAME
    embedded = sum(len(r["input"]) for r in stub.requests)  # the tools and the query

    again = ToolIndex(tmp_path, embedding_function=function(stub)).sync(FLEET)
    assert again.unchanged == len(FLEET)  # nothing re-embedded
    assert sum(len(r["input"]) for r in stub.requests) == embedded


def test_config_never_holds_the_key_and_rebuilds_the_function(stub: Stub, tmp_path: Path):
    embed = function(stub, dimensions=32)
    config = embed.get_config()
    assert KEY not in json.dumps(config)
    assert config["base_url"] == stub.base_url and config["model"] == "fake-embed-1"
    rebuilt = OpenAIEmbeddingFunction.build_from_config(config)
    assert rebuilt.get_config() == config
    with pytest.raises(EmbeddingBackendError, match="need an API key: set OPENAI_API_KEY"):
        OpenAIEmbeddingFunction("m").client()  # no key, no base_url: said when first used

    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    client.create_collection("tools", embedding_function=embed).add(ids=["a"], documents=["x"])
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert KEY.encode() not in stored


def test_a_reopened_collection_finds_the_function_in_a_new_process(stub: Stub, tmp_path: Path):
    made = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    ).create_collection("tools", embedding_function=function(stub))
    made.add(ids=[e.name for e in FLEET], documents=[e.description for e in FLEET])
    script = (
        "import chromadb, knowledge.search.openai_embeddings\n"
        "from chromadb.config import Settings\n"
        f"c = chromadb.PersistentClient(path={str(tmp_path)!r}, "
        "settings=Settings(anonymized_telemetry=False))\n"
        "col = c.get_collection('tools')\n"
        "print(col.configuration_json['embedding_function']['name'])\n"
        "print(col.query(query_texts=['post a chat message'], n_results=1)['ids'][0][0])\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-from-the-environment", "NO_PROXY": "*"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [NAME, "chat.post"]
    assert stub.requests[-1]["auth"] == "Bearer sk-from-the-environment"


def test_endpoint_failures_are_clear(stub: Stub):
    with pytest.raises(EmbeddingBackendError) as info:
        function(stub, model="missing-model")(["x"])
    message = str(info.value)
    assert "/v1/embeddings" in message and "HTTP 400" in message
    assert "missing-model" in message and "does not exist" in message
    assert KEY not in message
    with pytest.raises(EmbeddingBackendError, match="HTTP 500"):
        function(stub, model="crashing-model", max_retries=0)(["x"])
    closed = OpenAIEmbeddingFunction("m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(EmbeddingBackendError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        closed(["x"])


def test_a_base_url_without_a_key_sends_a_placeholder(stub: Stub):
    OpenAIEmbeddingFunction("local", base_url=stub.base_url)(["x"])
    assert stub.requests[-1]["auth"] == "Bearer no-key"


def test_factory_and_collection_suffix(stub: Stub):
    openai_fn = make_embedding_function(
        "openai", openai_api_key=KEY, openai_base_url=stub.base_url, model="text-embedding-3-small"
    )
    assert isinstance(openai_fn, OpenAIEmbeddingFunction)
    assert collection_suffix(openai_fn) == "-openai-text-embedding-3-small"
    assert COLLECTION + collection_suffix(MiniLMEmbeddingFunction()) == "tools"
    odd = OpenAIEmbeddingFunction("org/model:v1..2 ", base_url=stub.base_url, dimensions=256)
    assert collection_suffix(odd) == "-openai-org-model-v1.2-d256"
    with pytest.raises(ValueError, match="unknown embedding backend 'bert'"):
        make_embedding_function("bert", openai_api_key=None, openai_base_url=None, model="m")  # type: ignore[arg-type]


def test_backends_in_one_directory_keep_separate_collections(stub: Stub, tmp_path: Path):
    """What ToolIndex does once it names its collection with the suffix: both backends live
    side by side; chromadb itself refuses to query one backend's collection with another."""
    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    minilm = MiniLMEmbeddingFunction()
    openai_fn = function(stub)
    client.get_or_create_collection("tools" + collection_suffix(minilm), embedding_function=minilm)
    separate = client.get_or_create_collection(
        "tools" + collection_suffix(openai_fn), embedding_function=openai_fn
    )
    assert separate.name == "tools-openai-fake-embed-1"
    with pytest.raises(ValueError, match="Embedding function conflict"):
        client.get_or_create_collection("tools", embedding_function=openai_fn)
