"""What to draw: `RenderOptions`, shared by every drawing, the HTML page and the CLI's flags."""

from __future__ import annotations

from dataclasses import dataclass

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
