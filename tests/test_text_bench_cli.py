"""``mlmm bench``: listing, argument pass-through, exit codes, unknown names; and the language table."""

from __future__ import annotations

import logging

import pytest

from mlmm.cli.main import main
from mlmm.text.languages import LANGUAGES, contains_cjk, language_tag, parse_languages, tag_language

SCRIPT = '''"""Echo benchmark: prints its arguments.

More text that the listing does not show.
"""
import sys

print("ARGS", sys.argv[1:])
sys.exit(3 if "--fail" in sys.argv else 0)
'''


def run_cli(argv: list[str]) -> int:
    return main(argv)  # the real ``mlmm`` entry point


@pytest.fixture
def bench_dir(tmp_path, monkeypatch):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "echo.py").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "benchmarks" / "_shared.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_lists_benchmarks_with_their_summary(bench_dir, capsys):
    assert run_cli(["bench"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.split() == ["echo", "Echo", "benchmark:", "prints", "its", "arguments."] for line in lines
    )
    assert not any(line.startswith("_shared") for line in lines)


def test_passes_arguments_through_and_returns_exit_code(bench_dir, capfd):
    assert run_cli(["bench", "echo", "--samples", "5", "-x", "pos"]) == 0
    assert "ARGS ['--samples', '5', '-x', 'pos']" in capfd.readouterr().out
    assert run_cli(["bench", "echo", "--fail"]) == 3


def test_unknown_benchmark_names_the_available_ones(bench_dir, caplog):
    with caplog.at_level(logging.ERROR):
        assert run_cli(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in caplog.text and "echo" in caplog.text


def test_language_table_and_tags():
    assert list(LANGUAGES) == ["en", "de", "fr", "es", "zh", "ja"]
    assert language_tag("de") == "<2de>" and tag_language("<2ja>") == "ja" and tag_language("<s>") is None
    assert [code for code, lang in LANGUAGES.items() if not lang.uses_spaces] == ["zh", "ja"]
    assert parse_languages("en, de,en") == ["en", "de"] and parse_languages(["zh"]) == ["zh"]
    with pytest.raises(ValueError, match="unsupported language 'pt'; supported: en, de, fr, es, zh, ja"):
        parse_languages("en,pt")
    assert (
        contains_cjk("赤い円") and contains_cjk("红圆") and not contains_cjk("Ein großer Kreis, très élevé")
    )
