"""How each kind of thing gradviz draws looks: one `Look` per kind, and the look of a node or an overlay.

The SVG, the HTML page, the terminal tree and the TUI take their colours and shapes from here, so they
agree on what "a leaf" or "a .data edit" looks like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gradviz.model import Node, Overlay


@dataclass(frozen=True, slots=True)
class Look:
    """How one kind of node or edge is drawn.

    Attributes:
        kind: Key of the look, e.g. ``"leaf"``.
        legend: What it means, in PyTorch's words, for the legend.
        shape: Graphviz node shape (unused for edges).
        style: Graphviz style list, e.g. ``"rounded,filled"``.
        fill: Fill colour.
        border: Border (or edge) colour.
        font_color: Text colour.
        penwidth: Border or edge width.
        tui: A rich style for the same thing in a terminal.
        peripheries: Number of borders (2 draws a double border).
    """

    kind: str
    legend: str
    shape: str = "box"
    style: str = "rounded,filled"
    fill: str = "white"
    border: str = "#374151"
    font_color: str = "black"
    penwidth: str = "1"
    tui: str = ""
    peripheries: str = "1"

    def node_attrs(self) -> dict[str, str]:
        """Graphviz attributes for a node drawn this way.

        Returns:
            ``shape``, ``style``, ``fillcolor``, ``color``, ``fontcolor`` and ``penwidth`` (and
            ``peripheries`` when it is not 1).
        """
        attrs = {
            "shape": self.shape,
            "style": self.style,
            "fillcolor": self.fill,
            "color": self.border,
            "fontcolor": self.font_color,
            "penwidth": self.penwidth,
        }
        if self.peripheries != "1":
            attrs["peripheries"] = self.peripheries
        return attrs

    def edge_attrs(self) -> dict[str, str]:
        """Graphviz attributes for an edge drawn this way.

        Returns:
            ``style``, ``color``, ``fontcolor`` and ``penwidth``.
        """
        return {
            "style": self.style,
            "color": self.border,
            "fontcolor": self.font_color,
            "penwidth": self.penwidth,
        }


LEAF = Look(
    "leaf",
    "leaf tensor (requires_grad=True) and its AccumulateGrad: backward adds into its .grad",
    fill="#cfe8fc",
    border="#1d4ed8",
    tui="bold cyan",
)
OP = Look(
    "op", "grad_fn of a non-leaf tensor: turns v into vJ for its next_functions", fill="#f3f4f6", tui="white"
)
MOVE = Look(
    "move",
    "device or dtype move (ToCopyBackward0): forward copied the tensor across; backward sends the "
    "gradient back",
    style="rounded,filled,bold",
    fill="#ede9fe",
    border="#6d28d9",
    penwidth="2",
    tui="bold magenta",
)
ROOT = Look(
    "root",
    "root: the tensor backward() started from",
    fill="#fde68a",
    border="#b45309",
    penwidth="2",
    tui="bold yellow",
)
RETAINS_GRAD = Look(
    "retains_grad",
    "non-leaf with retain_grad(): its .grad is kept",
    fill="#dcfce7",
    border="#15803d",
    tui="green",
)
GRADIENT = Look(
    "gradient",
    "v: the gradient backward() was given",
    shape="note",
    style="filled",
    fill="#fef9c3",
    tui="yellow",
)
PENDING = Look(
    "pending",
    "not run yet at this step",
    style="rounded,dashed",
    border="#9ca3af",
    font_color="#6b7280",
    tui="grey50",
)
CURRENT = Look(
    "current", "running at this step: v in, vJ out", border="#dc2626", penwidth="3", tui="bold reverse red"
)
RAISED = Look(
    "raised",
    "raised here: autograd was running this node when the backward call failed",
    fill="#fee2e2",
    border="#dc2626",
    font_color="#991b1b",
    penwidth="2",
    tui="bold white on red",
    peripheries="2",
)
NOT_REACHED = Look(
    "not_reached",
    "not run: the backward call failed before reaching it",
    style="rounded,dashed",
    border="#9ca3af",
    font_color="#6b7280",
    tui="grey50",
)
NO_GRAD = Look(
    "no_grad",
    "made under torch.no_grad(): autograd recorded nothing",
    style="dashed",
    border="#9ca3af",
    font_color="#6b7280",
    tui="grey50",
)
DETACH = Look(
    "detach",
    "detach(): a new tensor with no grad_fn; gradients stop here",
    style="dashed",
    border="#6b7280",
    font_color="#374151",
    tui="grey62",
)
INPLACE = Look(
    "inplace",
    "in-place op: bumps the tensor's _version; saved copies then fail the version check",
    style="filled",
    fill="#ffedd5",
    border="#c2410c",
    tui="dark_orange",
)
DATA_EDIT = Look(
    "data_edit",
    ".data edit: bypasses autograd and _version; a node that saved the tensor would see the new values",
    style="filled,dashed",
    fill="#fef3c7",
    border="#b45309",
    font_color="#78350f",
    tui="dark_orange",
)
REQUIRES_GRAD_OFF = Look(
    "requires_grad_off",
    "requires_grad=False: autograd does not track this tensor",
    style="dashed",
    border="#9ca3af",
    font_color="#6b7280",
    tui="grey50",
)
NOTE = Look(
    "note",
    "note (grey, dashed): autograd did this as the code says; nothing to fix",
    style="dashed",
    border="#9ca3af",
    font_color="#6b7280",
    tui="grey50",
)
WARNING = Look(
    "warning",
    "warning (red, bold): probably a bug in your code; the summary says why",
    style="filled,bold",
    fill="#fee2e2",
    border="#dc2626",
    font_color="#991b1b",
    penwidth="2",
    tui="bold red",
)
EDGE = Look("edge", "next_functions link: vJ flows this way in backward", style="solid", border="#374151")
FLOW = Look(
    "flow",
    "vJ sent along this link (the label is its value)",
    style="bold",
    border="#15803d",
    font_color="#166534",
)

#: Overlay kinds (`gradviz.model.Overlay.kind`) to their looks.
OVERLAY_LOOKS: dict[str, Look] = {
    look.kind: look for look in (NO_GRAD, DETACH, INPLACE, DATA_EDIT, REQUIRES_GRAD_OFF)
}
#: Every look, for the legend, in the order the legend lists them.
LOOKS: tuple[Look, ...] = (
    ROOT,
    GRADIENT,
    OP,
    MOVE,
    RETAINS_GRAD,
    LEAF,
    CURRENT,
    PENDING,
    RAISED,
    NOT_REACHED,
    EDGE,
    FLOW,
    NO_GRAD,
    DETACH,
    INPLACE,
    DATA_EDIT,
    REQUIRES_GRAD_OFF,
    NOTE,
    WARNING,
)
EDGE_KINDS = frozenset({"edge", "flow"})


def node_look(node: Node, *, is_root: bool = False) -> Look:
    """The look of a graph node by what it is: leaf, root, retains_grad or plain op.

    Args:
        node: The node.
        is_root: Whether backward started from it.

    Returns:
        Its `Look`.
    """
    if node.is_accumulate_grad:
        return LEAF
    if is_root:
        return ROOT
    if node.tensor is not None and node.tensor.retains_grad:
        return RETAINS_GRAD
    return OP


def overlay_look(overlay: Overlay) -> Look:
    """How an overlay is drawn: the alarming look for a warning, its kind's calm look for a note.

    Args:
        overlay: What autograd did not record.

    Returns:
        Its `Look`.
    """
    if overlay.severity == "warning":
        return WARNING
    return OVERLAY_LOOKS.get(overlay.kind, NO_GRAD)


def legend_entries(kinds: Iterable[str]) -> tuple[Look, ...]:
    """The legend entries for the kinds present in a picture, in legend order.

    Args:
        kinds: Look kinds that appear.

    Returns:
        Their looks, ordered as `LOOKS`.
    """
    wanted = set(kinds)
    return tuple(look for look in LOOKS if look.kind in wanted)
