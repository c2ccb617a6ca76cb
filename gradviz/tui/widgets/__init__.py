"""The TUI's panes: graph, step details and forward timeline."""
