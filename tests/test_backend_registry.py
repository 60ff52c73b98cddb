"""The backend registry is filled once, whole, however many threads ask at once: hosts are
probed in parallel (``read_many``), and a thread that found it half filled (nftables
registered, the iptables variants not yet) raised ``KeyError: 'iptables-legacy'`` as a
traceback from ``irtui drift`` on hosts forced to iptables-legacy."""

from __future__ import annotations

import threading
import time

import pytest

from irtui.core.firewall import backend as registry
from irtui.core.firewall import iptables


def test_backends_asked_from_parallel_threads_are_all_there(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    made = iptables.backends

    def slow() -> list[iptables.IptablesBackend]:
        time.sleep(0.2)  # widen the window in which only nftables is registered
        return made()

    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_LOADED", [], raising=False)
    monkeypatch.setattr(iptables, "backends", slow)
    found: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        time.sleep(0.05 * (i % 2))  # half of them arrive while the first one fills it
        try:
            found[i] = registry.backend_named("iptables-legacy").name
        except KeyError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors, errors
    assert sorted(found) == list(range(6)) and set(found.values()) == {"iptables-legacy"}
    assert registry.backend_names() == ["iptables-legacy", "iptables-nft", "nftables"]
