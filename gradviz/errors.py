"""The errors gradviz raises on purpose, each with a message a user can act on."""

from __future__ import annotations


class GradvizError(Exception):
    """Base class: something the user can fix, described in one line."""


class UsageError(GradvizError):
    """Bad input on the command line: a missing script, an unknown option, an unwritable folder."""


class TraceFileError(GradvizError):
    """A trace.json that cannot be read: missing, not JSON, or of an unknown schema."""


class LayoutEngineMissing(GradvizError):
    """No Graphviz layout engine could be run, so no SVG/PNG can be made (DOT and JSON still can)."""
