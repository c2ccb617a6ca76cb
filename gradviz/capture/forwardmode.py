"""The timeline's door into torch: a ``TorchFunctionMode``, and putting it on and off the stack.

The mode sees each torch function and Tensor method call; while the recorder is on, it hands the call
to the recorder. Off (paused, not recording, or stepped aside after the capture budget), torch calls run
untouched, except that a user op in a paused block that could write behind autograd's version counter
sets the recorder's edit mark (so backward compares saved-tensor fingerprints).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import opkind, warnsite
from gradviz.capture.door import Part, UserCall
from gradviz.capture.fastop import SKIPPED, cached_names, op_names
from gradviz.capture.fastwrite import NOT_TAKEN
from gradviz.capture.lazyprints import LazyPrints

if TYPE_CHECKING:
    from gradviz.capture.forward import ForwardRecorder

#: Ways to reach a tensor's memory that autograd's version counter does not watch (besides ``.data``).
RAW_ACCESS = frozenset(
    {"Tensor.numpy", "Tensor.__array__", "Tensor.__dlpack__", "Tensor.data_ptr", "Tensor.untyped_storage"}
    | {"Tensor.storage", "Tensor._typed_storage", "from_numpy", "frombuffer", "from_dlpack"}
)
_WRITES = (opkind.DATA_SET, opkind.INPLACE)
#: An edit mark meaning "anything may have changed": every fingerprint is compared.
ANY_TIME = sys.maxsize


class TimelineMode(TorchFunctionMode):
    """The door for every torch call: routes it to the recorder; one cheap check when recording is off."""

    def __init__(self, recorder: ForwardRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        recorder = self.recorder
        if kwargs is None:
            kwargs = {}
        # Under torch.compile, Dynamo traces through active modes: recording there would only break
        # the user's graph (frames, weak references), so compiled regions stay off the timeline.
        if not recorder._on or torch.compiler.is_compiling():
            if recorder._recording and not torch.compiler.is_compiling():
                recorder._unseen(func, kwargs)  # a user op in a paused block may edit behind autograd
            return func(*args, **kwargs)
        names = cached_names(func)  # `op_names`' cache, read without a call of ours: once per op
        if names is not None:
            name, write = names
        else:
            try:
                name, write = op_names(func, RAW_ACCESS)
            except Exception:  # a function gradviz cannot classify: the general way reports it
                name = write = ""
        if name is SKIPPED:
            return func(*args, **kwargs)
        if len(recorder._raw) >= recorder._max_events:
            name = write = ""  # only counted, the general way
        if name and (not kwargs or (kwargs.get("inplace") is not True and kwargs.get("out") is None)):
            result = func(*args, **kwargs)  # the user's exception, if any, is theirs, unchanged
            recorder.plain_op(name, args, kwargs, result)
            return result
        if write:  # an in-place op: in one pass when it writes a plain tensor autograd does not track
            result = recorder.untracked_write(write, func, args, kwargs)
            if result is not NOT_TAKEN:
                return result
        return recorder._part.through(UserCall(func, args, kwargs), recorder._call)


class ModeControl:
    """Starting, stopping, pausing and stepping the mode aside (mixed into `ForwardRecorder`)."""

    def _recorder(self) -> ForwardRecorder:
        raise NotImplementedError

    _mode: TimelineMode | None
    _recording: bool
    _pause_depth: int
    _on: bool
    _part: Part
    _edit_mark: int
    _lazy: LazyPrints
    _user_grad: bool
    _inference: bool
    _raw: list[Any]

    # -- control -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording: push the TorchFunctionMode (it nests with the user's own modes)."""
        self._user_grad = torch.is_grad_enabled()
        self._inference = torch.is_inference_mode_enabled()
        self._mode = TimelineMode(self._recorder())
        warnsite.install()
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        self._update()

    def stop(self) -> None:
        """Stop recording and pop the mode, if it is still on top of the stack.

        ``__exit__`` pops whatever mode is on top: a mode of the user's pushed after ours, or a stack
        some torch context restored without ours, must never lose its entry to gradviz.
        """
        mode, self._mode = self._mode, None
        self._update()
        if mode is not None:
            warnsite.uninstall()
            depth = torch._C._len_torch_function_stack()
            if depth and torch._C._get_function_stack_at(depth - 1) is mode:
                mode.__exit__(None, None, None)

    def step_aside(self) -> bool:
        """Take the mode off the stack, when it is on top (so not inside its own or another handler).

        Returns:
            Whether it was taken off; `step_in` puts it back, `stop` needs it no more.
        """
        mode = self._mode
        depth = torch._C._len_torch_function_stack()
        if mode is None or depth == 0 or torch._C._get_function_stack_at(depth - 1) is not mode:
            return False
        self._mode = None
        self._update()
        warnsite.uninstall()
        mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]
        return True

    def step_in(self) -> None:
        """Push the mode again after `step_aside`, recording (a no_grad block after the budget)."""
        if self._mode is not None:
            return
        self._mode = TimelineMode(self._recorder())
        warnsite.install()
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        self.recording = True

    @property
    def recording(self) -> bool:
        """Whether ops are recorded; the Tracer sets False once the backward budget is spent."""
        return self._recording

    @recording.setter
    def recording(self, value: bool) -> None:
        self._recording = value
        self._update()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Leave gradviz's own torch calls (summaries, hooks, Jacobians) out of the timeline."""
        self._pause_depth += 1
        self._update()
        try:
            yield
        finally:
            self._pause_depth -= 1
            self._update()

    def _update(self) -> None:
        self._on = (
            self._mode is not None and self._recording and self._pause_depth == 0 and self._part.is_open
        )
        if self._mode is None or not self._recording or not self._part.is_open:
            self._mark(ANY_TIME)  # ops from now on go unseen

    def may_have_edited(self, event: int) -> bool:
        """Whether a tensor saved at `event` may since have changed behind the version counter.

        False only when the timeline saw every op since then and none could write that way, so
        comparing the saved tensors' fingerprints can be skipped.

        Args:
            event: Id of the event that created the node.
        """
        return event < self._edit_mark

    def note_unseen_access(self) -> None:
        """A ``.data`` access no mode saw (backward hooks run without torch-function modes)."""
        self._mark(ANY_TIME)

    def _unseen(self, func: Any, kwargs: dict[str, Any]) -> None:
        """A user op while paused (a hook during backward): note it when it could edit behind autograd."""
        try:
            code, name = opkind.classify(func)
        except Exception:  # never the user's problem: compare every fingerprint instead
            self._mark(ANY_TIME)
            return
        if code == opkind.DATA_GET or name in RAW_ACCESS:
            self._mark(ANY_TIME)
        elif code in _WRITES or "out" in kwargs:
            self._mark(len(self._raw))

    def _mark(self, at: int) -> None:
        """A write that may bypass the version counter comes next (at event `at`, or at any time).

        The saved tensors of the nodes made so far are fingerprinted first: they are unchanged until now.
        """
        try:
            self._lazy.take()
        except Exception as error:  # gradviz's own fault: the timeline stops, the user's write proceeds
            self._part.fault(error)
        if at == ANY_TIME:
            self._lazy.eager = True  # a write may come unseen at any time: fingerprint new nodes when made
        self._edit_mark = max(self._edit_mark, at)
