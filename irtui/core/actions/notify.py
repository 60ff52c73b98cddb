"""Telling the team: email (password from the OS keyring), recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

from irtui.core import notify_email
from irtui.core.actions.context import ActionContext
from irtui.core.errors import IrtuiError, NotifyError


def send_email(ctx: ActionContext, to: Sequence[str], subject: str, body: str) -> str:
    """Send an email and record it (success or failure) in the audit trail.

    Args:
        to: recipients; empty means ``notify.email.to``.

    Returns:
        The Message-ID.

    Raises:
        NotifyError, SecretError: not configured, the server refused, or no password.
    """
    settings = ctx.config.email
    recipients = list(to) or list(settings.to)
    try:
        if not settings.configured:
            raise NotifyError("email is not configured",
                              "set notify.email.host and notify.email.sender in the config")
        message_id = notify_email.send_email_with_keyring(settings, recipients, subject, body)
    except IrtuiError as exc:
        ctx.audit.note("notify", f"email '{subject}'", False, exc.line)
        raise
    ctx.audit.note("notify", f"email '{subject}' to {', '.join(recipients)}", True, message_id)
    return message_id
