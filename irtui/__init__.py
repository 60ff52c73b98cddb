"""irtui — a keyboard-driven incident-response console for Linux hosts."""

__version__ = "0.1.0"
