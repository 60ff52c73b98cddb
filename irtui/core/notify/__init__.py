"""Telling the team: e-mail (:mod:`.email`), chat and webhooks through apprise
(:mod:`.channels`), templates filled from the incident context (:mod:`.templates`), one typed
result per channel (:mod:`.result`) and sending to several channels at once
(:mod:`.dispatch`).

Secrets (the SMTP password, apprise URLs with their tokens) come from the OS keyring
(:mod:`irtui.core.secrets`) at send time and never appear in a result, a preview or an error.
This package imports nothing eagerly, so :mod:`irtui.core.settings` can use its templates.
"""
