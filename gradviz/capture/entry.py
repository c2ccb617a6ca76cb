"""Calls that fail before the engine: wrapping ``torch.autograd.backward`` and ``torch.autograd.grad``.

Every backward/grad call that runs reaches ``_engine_run_backward`` (see `engine.EnginePatch`), but some
raise before it: ``(x * 3).backward()`` on a non-scalar fails in torch's ``_make_grads``. They are still
calls the user made. ``Tensor.backward`` looks ``torch.autograd.backward`` up at call time, so wrapping
the two module attributes while tracing sees every such call; a call that reached the engine is left to
the engine wrapper (it is counted there), so nothing is counted twice. The user's exception propagates
untouched: the same object, raised from the same place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.autograd

from gradviz.capture.door import UserCall
from gradviz.model import Api, CallError

#: Told about a call that raised before the engine: (the call in engine form, the exception).
FailureNoter = Callable[[UserCall, BaseException], None]

_ENTRIES: tuple[tuple[str, Api], ...] = (("backward", "backward"), ("grad", "grad"))


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (torch.Tensor, torch.autograd.graph.GradientEdge)):
        return (value,)
    return tuple(value)


def engine_style(api: Api, args: Sequence[Any], kwargs: dict[str, Any]) -> UserCall:
    """The arguments of ``torch.autograd.backward`` / ``grad`` as the engine would have received them.

    Args:
        api: Which of the two was called.
        args: Its positional arguments.
        kwargs: Its keyword arguments.

    Returns:
        A call (never made) with ``_engine_run_backward``'s arguments: outputs, grad_tensors,
        retain_graph, create_graph, inputs; ``accumulate_grad`` False for ``grad``.
    """
    first = "tensors" if api == "backward" else "outputs"
    names = (
        (first, "grad_tensors", "retain_graph", "create_graph", "grad_variables", "inputs")
        if api == "backward"
        else (first, "inputs", "grad_outputs", "retain_graph", "create_graph")
    )
    given = dict(zip(names, args, strict=False)) | kwargs
    grads = given.get("grad_tensors") if api == "backward" else given.get("grad_outputs")
    create_graph = bool(given.get("create_graph", False))
    retain_graph = given.get("retain_graph")
    return UserCall(
        _not_made,
        (
            _as_tuple(given.get(first)),
            _as_tuple(grads),
            create_graph if retain_graph is None else bool(retain_graph),
            create_graph,
            _as_tuple(given.get("inputs")),
        ),
        {"accumulate_grad": api == "backward"},
    )


def _not_made(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a call that failed before the engine is recorded, never made again")


def call_error(error: BaseException, node: int | None = None) -> CallError:
    """The model's record of an exception a backward/grad call raised.

    Args:
        error: The exception.
        node: Id of the node autograd was running, when known.

    Returns:
        Its type name and message, as torch raised them.
    """
    return CallError(type=type(error).__name__, message=str(error), node=node)


class EntryPatch:
    """Wraps ``torch.autograd.backward`` and ``torch.autograd.grad`` while tracing; see the module docstring.

    Args:
        engine_calls: How many calls have reached the engine so far (the engine wrapper's count).
        on_failure: Told about each outermost call that raised before reaching the engine.
    """

    def __init__(self, engine_calls: Callable[[], int], on_failure: FailureNoter) -> None:
        self._engine_calls = engine_calls
        self._on_failure = on_failure
        self._originals: dict[str, Callable[..., Any]] = {}
        self._wrappers: dict[str, Callable[..., Any]] = {}
        self._depth = 0
        self._active = False

    def install(self) -> None:
        """Put the wrappers in place of the two module attributes."""
        for name, api in _ENTRIES:
            original = getattr(torch.autograd, name)
            wrapper = self._wrap(original, api)
            self._originals[name] = original
            self._wrappers[name] = wrapper
            setattr(torch.autograd, name, wrapper)
        self._active = True

    def restore(self) -> None:
        """Put torch's functions back, unless someone replaced our wrapper since (theirs stays)."""
        self._active = False
        for name, original in self._originals.items():
            if getattr(torch.autograd, name) is self._wrappers.get(name):
                setattr(torch.autograd, name, original)
        self._wrappers.clear()

    def _wrap(self, original: Callable[..., Any], api: Api) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self._active:  # a reference the user kept after tracing ended
                return original(*args, **kwargs)
            self._depth += 1
            reached = self._engine_calls()
            try:
                return original(*args, **kwargs)
            except Exception as error:
                # Torch hands the call to a function mode, which calls this wrapper again: the
                # outermost one speaks for the call.
                if self._depth == 1 and self._engine_calls() == reached:
                    self._note(api, args, kwargs, error)
                raise
            finally:
                self._depth -= 1

        return wrapper

    def _note(self, api: Api, args: tuple[Any, ...], kwargs: dict[str, Any], error: Exception) -> None:
        try:
            self._on_failure(engine_style(api, args, kwargs), error)
        except Exception:  # the noter reports its own faults; this only keeps the user's error theirs
            return
