"""The Textual front of irtui. Everything it does goes through :mod:`irtui.core.actions`."""
