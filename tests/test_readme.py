"""The README's two set-up commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    main_cmd, test_cmd = _readme_commands()
    ci_lines = [
        ln
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln and not ln.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines == [test_cmd]
    assert "pytest" in test_cmd and '".[dev]"' in test_cmd
    assert "mlmm quickstart" in main_cmd


def test_tokenizers_folder_is_data_only() -> None:
    assert not (ROOT / "tokenizers" / "__init__.py").exists()
