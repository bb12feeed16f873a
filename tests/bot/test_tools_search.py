"""``kaizen tools search``: the ranked tools for a sentence, offline."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main


def test_tools_search_ranks_the_fitting_tool_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["tools", "search", "add a line at the end of a log file"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line[:2].rstrip(".").isdigit()]
    assert lines[0].startswith("1. file.append")
    assert len(lines) == 5
    assert "meaning #" in result.output and "words #" in result.output
    assert (tmp_path / "data" / "chroma").is_dir()  # the index persists in the data dir
    again = CliRunner().invoke(main, ["tools", "search", "-k", "2", "render a template"])
    assert again.exit_code == 0, again.output
    assert "1. text.render" in again.output


def test_tools_without_a_subcommand_still_lists_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["tools"])
    assert result.exit_code == 0
    assert "http.request" in result.output
