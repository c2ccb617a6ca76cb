"""One door from torch into gradviz: every callback torch makes into gradviz goes through here.

Torch calls gradviz from the function mode (every op), from hooks on autograd Nodes and on leaves, and
from the wrapped engine. A fault in gradviz behind any of these must never reach the user's script. The
door turns it into one capture problem per kind (counted, never one line per occurrence), switches that
part of capture off for the rest of the run, and lets the user's own call proceed: it runs exactly once,
and its result and its exceptions are the user's own.

A `Door` holds the problems; each `Part` (the forward timeline, backward steps, leaf following, ...) is
what one fault switches off. The user's call is a `UserCall`, which remembers whether it already ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradviz.capture.isolation import isolated
from gradviz.model import Finding, Location

#: Marks the hooks `Part.hook` makes: gradviz's own, on tensors and Nodes.
OWN_HOOK = "gradviz_hook"

# States of a UserCall.
PENDING = 0
RUNNING = 1
DONE = 2
RAISED = 3


class UserCall:
    """The user's own call (a torch op, the engine): made at most once, whoever asks for it.

    Args:
        func: What the user called.
        args: Its positional arguments.
        kwargs: Its keyword arguments.
    """

    __slots__ = ("args", "error", "func", "kwargs", "result", "state")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.state = PENDING
        self.result: Any = None
        self.error: BaseException | None = None

    def __call__(self) -> Any:
        """Make the call; its exception, if any, is the user's and propagates unchanged.

        Returns:
            What the call returned.

        Raises:
            RuntimeError: When gradviz asks for the call a second time (a gradviz fault: the door
                answers it with the first call's outcome).
        """
        if self.state != PENDING:
            raise RuntimeError("gradviz asked for the user's call twice")
        self.state = RUNNING
        try:
            result = self.func(*self.args, **self.kwargs)
        except BaseException as error:
            self.state, self.error = RAISED, error
            raise
        self.state, self.result = DONE, result
        return result


@dataclass
class _Problem:
    message: str
    location: Location | None
    count: int = 1


class Door:
    """The capture problems of one tracing session, one per kind, and the parts that faults switched off."""

    def __init__(self) -> None:
        self._problems: dict[str, _Problem] = {}

    def part(
        self,
        name: str,
        consequence: str,
        on_close: Callable[[], None] | None = None,
        *,
        tolerance: int = 0,
    ) -> Part:
        """A part of capture that a fault switches off.

        Args:
            name: What it is, as the user reads it (``"forward timeline"``).
            consequence: What switching it off means (``"the timeline stopped recording"``).
            on_close: Called once when a fault switches the part off.
            tolerance: Faults it survives first (each is counted): for parts where one fault may
                concern one odd call only.

        Returns:
            The part, open.
        """
        return Part(self, name, consequence, on_close, tolerance=tolerance)

    def report(
        self, kind: str, message: str, location: Location | None = None, *, final: bool = False
    ) -> None:
        """Record a capture problem; the same kind again only counts.

        Args:
            kind: What went wrong, as a key: one line is shown per kind.
            message: What to tell the user the first time.
            location: The user's line it concerns, where there is one.
            final: The message replaces the first one (it says the part is now off).
        """
        problem = self._problems.get(kind)
        if problem is None:
            self._problems[kind] = _Problem(message, location)
            return
        problem.count += 1
        if final:
            problem.message = message

    @property
    def findings(self) -> tuple[Finding, ...]:
        """One ``capture_problem`` note per kind, with how often it happened."""
        return tuple(
            Finding(
                kind="capture_problem",
                message=problem.message
                if problem.count == 1
                else f"{problem.message} ({problem.count} times)",
                location=problem.location,
                severity="note",
                count=problem.count,
            )
            for problem in self._problems.values()
        )


def describe(error: BaseException) -> str:
    """``"RuntimeError: boom"``: an exception in one line."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Part:
    """One part of capture: open until a fault in it switches it off.

    Args:
        door: Where its problems are recorded.
        name: What it is, as the user reads it.
        consequence: What switching it off means.
        on_close: Called once when it is switched off.
        tolerance: Faults it survives before switching off.
    """

    __slots__ = ("_door", "_faults", "_on_close", "consequence", "is_open", "name", "tolerance")

    def __init__(
        self,
        door: Door,
        name: str,
        consequence: str,
        on_close: Callable[[], None] | None = None,
        *,
        tolerance: int = 0,
    ) -> None:
        self._door = door
        self._on_close = on_close
        self._faults = 0
        self.name = name
        self.consequence = consequence
        self.tolerance = tolerance
        self.is_open = True

    def fault(self, error: BaseException | None, location: Location | None = None, *, what: str = "") -> None:
        """Record a gradviz fault in this part (one line per part, counted); past its tolerance, switch off.

        Args:
            error: The exception gradviz raised (None when `what` says it all).
            location: The user's line it concerns, where known.
            what: What could not be done, when more helpful than the exception alone.
        """
        cause = what or (describe(error) if error is not None else "an internal error")
        if what and error is not None and str(error) not in what:
            cause = f"{what} ({describe(error)})"
        self._faults += 1
        closing = self.is_open and self._faults > self.tolerance
        message = f"{self.name}: {cause}; {self.consequence}" if closing else f"{self.name}: {cause}"
        self._door.report(self.name, message, location, final=closing)
        if closing:
            self.close()

    def report(self, kind: str, message: str, location: Location | None = None) -> None:
        """Record a problem in this part that does not switch it off (one line per kind, counted)."""
        self._door.report(f"{self.name}/{kind}", f"{self.name}: {message}", location)

    def close(self) -> None:
        """Switch the part off; nothing it does afterwards reaches the user."""
        if not self.is_open:
            return
        self.is_open = False
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception as error:  # switching off must not fail loudly either
                self._door.report(
                    f"{self.name}/off", f"{self.name}: could not switch off ({describe(error)})"
                )

    def run(self, work: Callable[[], Any]) -> Any:
        """Do gradviz work that no user call waits for; a fault switches the part off.

        Args:
            work: The work.

        Returns:
            What it returned; None when the part is off or the work failed.
        """
        if not self.is_open:
            return None
        try:
            return work()
        except Exception as error:
            self.fault(error)
            return None

    def hook(self, work: Callable[..., Any]) -> Callable[..., None]:
        """Wrap a hook torch will call: it does nothing once the part is off, and it never raises.

        The wrapper returns None, so a tensor or Node hook never replaces the gradient it is given.
        """

        def guarded(*args: Any) -> None:
            if self.is_open:
                try:
                    with isolated():  # gradviz's own tensor work: no user mode sees it
                        work(*args)
                except Exception as error:
                    self.fault(error)

        guarded.__dict__[OWN_HOOK] = True
        return guarded

    def through(self, call: UserCall, handle: Callable[[UserCall], Any]) -> Any:
        """Let gradviz handle the user's call (record it, capture it); a gradviz fault never reaches them.

        Args:
            call: The user's call (a torch op, the engine), not made yet.
            handle: gradviz's handling, which makes the call at most once.

        Returns:
            The user's result.

        Raises:
            BaseException: The user's own exception, unchanged, when their call raised one.
        """
        try:
            return handle(call)
        except Exception as error:
            if error is call.error:  # the user's own exception, from their call
                call.error = None
                raise
            fault = error
        return self.recover(call, fault)

    def recover(self, call: UserCall, error: Exception) -> Any:
        """What the door does when an exception reached it: the user's call proceeds untouched.

        Call it after the ``except`` block, not inside it: raising the user's exception while gradviz's
        is being handled would chain gradviz's onto it ("During handling of the above exception...").

        Args:
            call: The user's call that gradviz was handling.
            error: The exception that reached the door.

        Returns:
            The user's result: from the call if it already ran, else from running it now, plainly.

        Raises:
            BaseException: The user's own exception, when their call raised one.
        """
        if call.state == RAISED:
            user_error = call.error
            call.error = None  # the traceback holds the call's frame: leave no cycle behind
            if user_error is not error:
                self.fault(error)
            assert user_error is not None
            raise user_error
        self.fault(error)
        if call.state == DONE:
            return call.result
        return call()
