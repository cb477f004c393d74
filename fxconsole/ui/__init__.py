"""The Textual operations console (DESIGN.md, issue 6).

``fxconsole.ui.app.FxConsoleApp`` is the entry point; importing this package does not
import Textual.
"""
