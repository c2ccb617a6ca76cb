"""After the capture budget: the function mode steps aside, and cheap markers keep watching.

Once the last captured call has run, the forward timeline stops recording ops, but its
``TorchFunctionMode`` would still see every op of a long training loop. At the first safe point (an
optimizer step hook, or the end of a ``no_grad`` block: torch runs those outside any torch-function
handler) the mode is taken off the stack, so the loop runs at plain speed. (A global module forward
pre-hook would be one too, but its presence changes the frames of every module call, and with them the
line a warning from a forward names.)

What a training loop does after the budget is still worth a note: an evaluation under ``torch.no_grad()``,
a ``.detach()`` for plotting, a ``.data`` edit. Markers on exactly those entry points take over:
``no_grad`` / ``inference_mode`` blocks put the mode back for their duration, and ``Tensor.detach`` /
``detach_`` / ``.data`` put it back until the next safe point (so ``w.data *= k`` is seen whole), the
first few times per source line. Every other op runs untouched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import optimizer as optimizer_hooks

from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.isolation import in_isolation
from gradviz.capture.location import is_internal

#: Per source line, how many no_grad blocks, detaches and .data accesses are recorded after the budget.
PER_LINE = 3

_DATA: Any = torch._C.TensorBase.data  # the getset descriptor: its __get__/__set__ are what the mode sees
_BLOCKS = (torch.no_grad, torch.inference_mode)
_ORIGINALS = {name: torch.Tensor.__dict__.get(name) for name in ("detach", "detach_", "data")}


class Watch:
    """Steps the timeline's mode aside after the budget and watches no_grad, detach and ``.data``.

    Args:
        recorder: The forward timeline.
    """

    def __init__(self, recorder: ForwardRecorder) -> None:
        self._recorder = recorder
        self._hooks: list[Any] = []
        self._patched: list[tuple[Any, str, Any]] = []
        self._markers: list[tuple[str, Any]] = []
        self._seen: dict[tuple[Any, int], int] = {}
        self._blocks: set[int] = set()
        self._thread = threading.get_ident()  # the mode stack is per thread: only this one is watched

    @property
    def is_watching(self) -> bool:
        """Whether the markers are in place."""
        return bool(self._patched)

    def begin(self) -> None:
        """Start watching: safe-point hooks to take the mode off, and the markers."""
        if self._patched:
            return
        self._add_hooks()
        for block in _BLOCKS:
            self._patch(block, "__enter__", self._entering(block.__enter__))
            self._patch(block, "__exit__", self._exiting(block.__exit__))
        self._markers = [
            ("detach", self._marker(torch.Tensor.detach)),
            ("detach_", self._marker(torch.Tensor.detach_)),
            ("data", property(self._marker(_DATA.__get__), self._marker(_DATA.__set__))),
        ]

    def end(self) -> None:
        """Stop watching: every marker and hook removed, the originals back in place."""
        self._remove_hooks()
        self._tensor_markers(on=False)
        for owner, name, original in reversed(self._patched):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._patched.clear()
        self._markers.clear()

    def _tensor_markers(self, *, on: bool) -> None:
        """Put the Tensor markers in place, or take them away while the mode is on the stack.

        Torch looks a method up on ``torch.Tensor`` by name to tell a mode which function was called,
        so with the mode on, the originals must be there.
        """
        for name, marker in self._markers:
            if on:
                setattr(torch.Tensor, name, marker)
            elif torch.Tensor.__dict__.get(name) is marker:
                original = _ORIGINALS[name]
                if original is None:
                    delattr(torch.Tensor, name)
                else:
                    setattr(torch.Tensor, name, original)

    # ----- the mode ---------------------------------------------------------------------------------

    def _add_hooks(self) -> None:
        if self._hooks:
            return
        step_aside = self._recorder._part.hook(self._safe_point)
        # Not a global module hook: with one, Module.__call__ takes its slower path through an extra
        # frame, and warnings raised in a forward would name another line than in a plain run.
        self._hooks = [
            optimizer_hooks.register_optimizer_step_pre_hook(step_aside),
            optimizer_hooks.register_optimizer_step_post_hook(step_aside),
        ]

    def _safe_point(self, *args: Any) -> None:
        """Torch runs this outside any torch-function handler: the mode can leave the stack here."""
        if not self._blocks and self._step_aside():
            self._remove_hooks()

    def _step_aside(self) -> bool:
        recorder = self._recorder
        recorder.recording = False
        if recorder._part.run(recorder.step_aside):
            self._tensor_markers(on=True)
            return True
        return False

    def _step_in(self) -> None:
        """Put the mode back, recording, until the next safe point (or the end of a no_grad block)."""
        self._tensor_markers(on=False)
        recorder = self._recorder
        if recorder._mode is not None:
            # No safe point came yet (a loop without an optimizer): the mode is still on, not recording.
            recorder.recording = True
        else:
            recorder._part.run(recorder.step_in)
        self._add_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()

    # ----- markers ----------------------------------------------------------------------------------

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._patched.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)

    def _first_times(self) -> bool:
        """Whether the mode is off and the user's line (two frames up) was seen under `PER_LINE` times."""
        recorder = self._recorder
        if (
            torch.compiler.is_compiling()  # Dynamo traces the marker: nothing of ours in the user's graph
            or (recorder._mode is not None and recorder.recording)
            or in_isolation()
            or not recorder._part.is_open
            or threading.get_ident() != self._thread
        ):
            return False  # the mode sees it itself, or it is gradviz's own work
        frame = sys._getframe(2)
        if torch._C._current_graph_task_id() != -1 or is_internal(frame.f_code.co_filename):
            return False  # torch's own work (checkpoint's recomputation in backward, its internal detaches)
        key = (frame.f_code, frame.f_lineno)
        count = self._seen.get(key, 0)
        if count >= PER_LINE:
            return False
        self._seen[key] = count + 1
        return True

    def _marker(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """`original`, with the mode put back first the first few times per line, so it records it."""

        def marked(*args: Any) -> Any:
            if self._first_times():
                self._step_in()
            return original(*args)

        return marked

    def _entering(self, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def enter(block: Any) -> Any:
            if self._first_times():
                self._step_in()
                self._blocks.add(id(block))
            return original(block)

        return enter

    def _exiting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def exit_(block: Any, *exc: Any) -> Any:
            result = original(block, *exc)
            if id(block) in self._blocks:
                self._blocks.discard(id(block))
                if not self._blocks:
                    self._safe_point()  # the with statement's own line: outside any handler
            return result

        return exit_
