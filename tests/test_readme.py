"""Every `gradviz` command in README.md's shell blocks runs as written, from a fresh checkout's root."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADVIZ = Path(sys.executable).parent / "gradviz"


def readme_commands() -> list[list[str]]:
    """The `gradviz ...` lines of the README's ```bash blocks, in order, without their comments."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "gradviz":
            commands.append(words)
    return commands


def test_the_readme_shows_the_main_commands() -> None:
    shown = {tuple(words[:2]) for words in readme_commands()}
    assert {("gradviz", "demo"), ("gradviz", "trace"), ("gradviz", "render"), ("gradviz", "tui")} <= shown


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    # Given: a folder laid out like a checkout's root (the commands name examples/ and gradviz-out/)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")

    for words in readme_commands():
        if "tui" in words[1:2] or "--tui" in words:
            # The TUI waits for keys: what it would open must exist, and it opens in tests/tui.
            trace = next((word for word in words if word.endswith(".json")), None)
            assert trace is None or (tmp_path / trace).is_file(), words
            continue
        # When: the command runs as the README writes it
        done = subprocess.run(
            [str(GRADVIZ), *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

        # Then: it succeeds and says what it wrote
        assert done.returncode == 0, f"{shlex.join(words)}:\n{done.stderr}"
        assert "gradviz-out" in done.stdout + done.stderr, shlex.join(words)


def test_the_readme_shows_what_gradviz_demo_prints(tmp_path: Path) -> None:
    # Given: the README's `$ gradviz demo` console block
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```console\n\$ gradviz demo\n(.*?)```", readme, re.S)
    assert found is not None
    shown = [line for line in found.group(1).splitlines() if line]

    # When: gradviz demo runs in a terminal 100 columns wide
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [str(GRADVIZ), "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )

    # Then: every line the README shows is a line it printed
    printed = set((done.stdout + done.stderr).splitlines())
    assert done.returncode == 0
    assert [line for line in shown if line not in printed] == []
