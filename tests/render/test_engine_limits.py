"""The layout engine never stalls gradviz and never outlives it: time limit, fallback, signals."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gradviz.model import Trace
from gradviz.output import OutputIncomplete, write_outputs
from gradviz.render import process
from gradviz.render.json import to_json
from gradviz.render.svg import LayoutTimedOut, run_layout

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def sleeping_engine(folder: Path) -> Path:
    """A stand-in layout engine: notes its pid and its child's pid, then hangs (a child sleeping too)."""
    path = folder / "slowdot"
    path.write_text(
        "#!/bin/sh\n"
        f"echo started >> {folder}/launches\n"
        f"sleep 60 & echo $! > {folder}/grandchild.pid\n"
        f"echo $$ > {folder}/engine.pid\n"
        "exec sleep 60\n",
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie no parent reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(path: Path, process_: subprocess.Popen[bytes]) -> int:
    while not path.exists() or not path.read_text().strip():
        assert process_.poll() is None, process_.stderr.read() if process_.stderr else ""
        time.sleep(0.02)
    return int(path.read_text())


def gone_soon(pid: int) -> bool:
    for _ in range(200):
        if not alive(pid):
            return True
        subprocess.run(["sleep", "0.05"], check=True)
    return False


@linux_only
def test_a_hanging_engine_is_killed_with_its_children_at_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(sleeping_engine(tmp_path)))

    with pytest.raises(LayoutTimedOut, match=r"slowdot took more than 0\.3s and was stopped"):
        run_layout("digraph { a }", "svg", timeout=0.3)

    assert not alive(int((tmp_path / "engine.pid").read_text()))
    assert gone_soon(int((tmp_path / "grandchild.pid").read_text()))
    assert process.live_children() == ()


def test_gradviz_layout_timeout_sets_the_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(sleeping_engine(tmp_path)))
    monkeypatch.setenv("GRADVIZ_LAYOUT_TIMEOUT", "0.2")

    with pytest.raises(LayoutTimedOut, match=r"took more than 0\.2s"):
        run_layout("digraph { a }", "svg")


def test_a_timed_out_drawing_falls_back_to_dot_and_is_not_retried_for_calls_as_big(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trace: Trace
) -> None:
    # Given three captured calls of the same size and an engine that hangs
    monkeypatch.setenv("GRADVIZ_DOT", str(sleeping_engine(tmp_path)))
    monkeypatch.setenv("GRADVIZ_LAYOUT_TIMEOUT", "0.3")
    first = trace.backwards[0]
    calls = tuple(replace(first, index=number) for number in (1, 2, 3))
    out = tmp_path / "out"

    # When the SVGs are written
    with pytest.raises(OutputIncomplete) as info:
        write_outputs(replace(trace, backward_calls=3, backwards=calls), out, ["svg"])

    # Then the engine ran twice (the full drawing, then the cheaper collapsed view, both too slow) and
    # never again for the later calls; every call has its DOT instead, and one line says so
    assert (tmp_path / "launches").read_text().count("started") == 2
    assert {path.name for path in info.value.written} >= {f"backward-00{n}.dot" for n in (1, 2, 3)}
    message = str(info.value)
    assert message.startswith("backward-001.svg: layout engine slowdot took more than 0.3s and was stopped;")
    assert "drew the collapsed view instead" in message and "more)" in message
    assert "\n" not in message


def test_a_full_drawing_that_times_out_is_replaced_by_the_collapsed_view(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trace: Trace
) -> None:
    # Given an engine that hangs on the full drawing (over 4,000 characters of DOT) only
    engine = tmp_path / "bigslow"
    engine.write_text(
        "#!/bin/sh\ndata=$(cat)\n"
        'if [ ${#data} -gt 4000 ]; then exec sleep 60; fi\necho "<svg>collapsed</svg>"\n',
        encoding="utf-8",
    )
    engine.chmod(engine.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("GRADVIZ_DOT", str(engine))
    monkeypatch.setenv("GRADVIZ_LAYOUT_TIMEOUT", "0.3")

    # When the SVG is written
    with pytest.raises(OutputIncomplete, match="drew the collapsed view instead"):
        write_outputs(trace, tmp_path / "out", ["svg"])

    # Then the SVG is the collapsed view and the full drawing is kept as DOT
    assert (tmp_path / "out" / "backward-001.svg").read_text() == "<svg>collapsed</svg>\n"
    assert "MulBackward0" in (tmp_path / "out" / "backward-001.dot").read_text()


def _render_in_a_child(tmp_path: Path, trace: Trace) -> subprocess.Popen[bytes]:
    (tmp_path / "trace.json").write_text(to_json(trace), encoding="utf-8")
    env = {**os.environ, "GRADVIZ_DOT": str(sleeping_engine(tmp_path)), "GRADVIZ_LAYOUT_TIMEOUT": "60"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradviz",
            "render",
            str(tmp_path / "trace.json"),
            "--out",
            str(tmp_path / "o"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@linux_only
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_engine_dies_with_gradviz(tmp_path: Path, trace: Trace, how: signal.Signals) -> None:
    # Given gradviz render waiting on a hanging engine
    gradviz = _render_in_a_child(tmp_path, trace)
    engine = wait_for(tmp_path / "engine.pid", gradviz)

    # When gradviz is stopped by a signal
    gradviz.send_signal(how)
    gradviz.communicate(timeout=30)

    # Then the engine is gone too (and so is what it started)
    assert gradviz.returncode != 0
    assert gone_soon(engine)
    assert gone_soon(int((tmp_path / "grandchild.pid").read_text())) or how == signal.SIGKILL


@linux_only
def test_a_sigterm_held_back_while_forking_still_takes_the_engine_and_its_children(tmp_path: Path) -> None:
    # Given gradviz whose SIGTERM arrives while it is held back for the fork, once the engine runs: it is
    # delivered as run_child unblocks it, before run_child holds the child
    script = tmp_path / "held.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from pathlib import Path\n"
        "from gradviz.render.process import run_child\n"
        "real, gradviz = signal.pthread_sigmask, os.getpid()\n"
        "def mask(how, signals):\n"
        f"    pid_file = Path({str(tmp_path / 'grandchild.pid')!r})\n"
        "    if how == signal.SIG_UNBLOCK and os.getpid() == gradviz:  # not in the forked child\n"
        "        while not pid_file.exists() or not pid_file.read_text().strip():\n"
        "            time.sleep(0.02)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(how, signals)\n"
        "signal.pthread_sigmask = mask\n"
        f"run_child([{str(sleeping_engine(tmp_path))!r}], b'', timeout=60)\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]),
    }

    # When it runs
    held = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60)

    # Then it died of SIGTERM, and neither the engine nor what the engine started outlives it
    assert held.returncode == -signal.SIGTERM, held.stderr.decode(errors="replace")
    assert gone_soon(int((tmp_path / "engine.pid").read_text()))
    assert gone_soon(int((tmp_path / "grandchild.pid").read_text()))
