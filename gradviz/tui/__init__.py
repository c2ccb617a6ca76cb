"""The Textual TUI that steps through backward; never imports torch or gradviz.capture."""
