"""Colours, shapes, fonts, legend entries and value formatting shared by every renderer and the TUI.

One `Look` per kind of thing gradviz draws, so the SVG, the HTML page, the terminal tree and the TUI
agree on what "a leaf" or "a .data edit" looks like.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gradviz.model import Node, Overlay
from gradviz.render.values import format_nested, format_number, format_shape, format_value, is_zero

__all__ = [
    "DEFAULT_OPTIONS",
    "LOOKS",
    "MONO_STACK",
    "RANKDIRS",
    "SANS_STACK",
    "THEMES",
    "Look",
    "RenderOptions",
    "format_nested",
    "format_number",
    "format_shape",
    "format_value",
    "is_zero",
    "legend_entries",
    "node_look",
    "overlay_look",
]

#: Fonts the layout engine has metrics for (it has none for "monospace" and falls back to Times).
#: DejaVu Sans is as wide as the widest common sans-serif, so every font of `SANS_STACK` fits its boxes.
FONT = "DejaVu Sans"
MONO_FONT = "Courier"
#: What the SVG asks the viewer for: fonts no wider than the layout's, most alike first.
SANS_STACK = "'DejaVu Sans',Verdana,Helvetica,Arial,'Liberation Sans',sans-serif"
MONO_STACK = "'DejaVu Sans Mono',Menlo,Courier,'Courier New','Liberation Mono',monospace"
FONT_SIZE = "11"
SMALL_FONT_SIZE = "9"
MUTED = "#6b7280"
#: Layout directions a drawing may take.
RANKDIRS = ("TB", "LR")
#: Themes (`gradviz.render.theme`), the default first.
THEMES = ("default", "projector")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What to draw.

    Attributes:
        overlays: Draw what autograd did not record (no_grad ghosts, detach cuts, in-place version
            bumps, ``.data`` edits) beside the graph.
        legend: Add a legend of the kinds of node and edge in the picture.
        values: Show tensor values for small tensors (otherwise only shapes and norms).
        saved: List the tensors each node saved for backward.
        source: Show the user's source line that created each node.
        max_label_values: Tensors with more elements than this show shape and norm instead of values.
        depth: Draw the collapsed view with modules at this depth as boxes (0: no modules, repeated
            runs folded); None draws every node, or the collapsed view when the graph is bigger than
            the node budget and `full` is False.
        full: Draw every node whatever the size.
        clusters: Box the nodes of each ``nn.Module`` call in the full drawing.
        jacobians: Write each small node's local J under it once it ran, and for a small call the
            whole call as one product ``v @ dy/dx``.
        rankdir: Layout direction: ``"TB"`` (root at the top) or ``"LR"`` (root at the left).
        dpi: Resolution of PNG drawings (None: the layout engine's default); SVG is unaffected.
        theme: ``"default"``, or ``"projector"``: larger type, thicker lines, darker greys (see
            `gradviz.render.theme`).

    Raises:
        ValueError: For a `rankdir` other than ``TB``/``LR``, a `dpi` below 1 or an unknown `theme`.
    """

    overlays: bool = True
    legend: bool = True
    values: bool = True
    saved: bool = True
    source: bool = True
    max_label_values: int = 8
    depth: int | None = None
    full: bool = False
    clusters: bool = True
    jacobians: bool = True
    rankdir: str = "TB"
    dpi: int | None = None
    theme: str = "default"

    def __post_init__(self) -> None:
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {self.theme!r}")
        if self.rankdir not in RANKDIRS:
            raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {self.rankdir!r}")
        if self.dpi is not None and self.dpi < 1:
            raise ValueError(f"dpi must be at least 1, got {self.dpi}")

    @property
    def shows_jacobians(self) -> bool:
        """Whether Jacobians are written out: they are values, so ``values=False`` leaves them out too."""
        return self.jacobians and self.values


#: The defaults, for signatures (a dataclass instance is immutable, so sharing it is safe).
DEFAULT_OPTIONS = RenderOptions()


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
