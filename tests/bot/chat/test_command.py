"""``kaizen chat`` through click's runner: no Slack tokens, no OpenAI key, input from stdin."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings

pytestmark = pytest.mark.usefixtures("kaizen_env")


def test_chat_plans_runs_and_quits() -> None:
    script = "append 'hello world' to notes.txt\n1\n/quit\n"
    result = CliRunner().invoke(main, ["chat"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Starting Kaizen…\nKaizen — local console.")
    assert "[1] ▶ Run  [2] ✎ Edit  [3] Save as workflow  [4] Cancel" in out
    assert "succeeded" in out
    assert out.rstrip().endswith("bye")
    assert (Path(Settings().workspace_dir) / "notes.txt").read_text() == "hello world"


def test_chat_ends_at_eof_and_takes_a_name() -> None:
    result = CliRunner().invoke(main, ["chat", "--user", "ada"], input="/kaizen help\n")
    assert result.exit_code == 0, result.output
    assert "You are @ada in #local." in result.output
    assert "ada> /kaizen help" in result.output
    assert "Kaizen commands" in result.output
    assert result.output.rstrip().endswith("bye")


def test_chat_is_listed() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "chat" in result.output


def test_kaizen_start_without_slack_tokens_opens_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` runs `kaizen start`: with no tokens it is the local console."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["start"], input="/kaizen help\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "local console" in result.output
    assert "/kaizen run" in result.output
