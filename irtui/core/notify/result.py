"""The typed outcome of one notification channel: sent, failed (with the server's reply) or
not configured (with the exact fix). Fronts render these; nobody parses a string back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Delivery(Enum):
    """What happened on one channel."""

    SENT = "sent"
    FAILED = "failed"
    NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class ChannelResult:
    """One channel's result.

    Attributes:
        channel: the channel name (``email`` or a ``[notify.channels]`` name).
        kind: ``email`` or the apprise service (``Mattermost``, ``JSON``, ...).
        delivery: see :class:`Delivery`.
        detail: for SENT the Message-ID or a short confirmation; for FAILED the problem
            with the server's reply (``535 5.7.8 ...``, ``HTTP 404 ...``); for NOT_CONFIGURED
            what is missing. Never contains a secret.
        fix: what to do about a failure or a missing setting (empty when sent).
        seconds: how long the attempt took.
        secret: for NOT_CONFIGURED because a keyring secret is missing, its name (the TUI
            offers to store it); else empty.
    """

    channel: str
    kind: str
    delivery: Delivery
    detail: str
    fix: str = ""
    seconds: float = 0.0
    secret: str = ""

    @property
    def ok(self) -> bool:
        """True only when the channel accepted the message."""
        return self.delivery is Delivery.SENT

    @property
    def line(self) -> str:
        """One line for a log panel or stdout: ``soc: FAILED — problem — fix``."""
        state = {Delivery.SENT: "sent", Delivery.FAILED: "FAILED",
                 Delivery.NOT_CONFIGURED: "not configured"}[self.delivery]
        text = f"{self.channel} ({self.kind}): {state} — {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text
