"""SSHPool.stream against real sshd in the lab: raw bytes straight to files, both streams
drained together, a byte cap, a timeout and cancel that keep what arrived."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path

from irtui.core.config import Config
from irtui.core.ssh import SSHPool

TEN_MB = 10 * 1024 * 1024


def _pool(config: Config) -> SSHPool:
    return SSHPool(replace(config.ssh))


def _expected(word: bytes, size: int) -> str:
    line = word + b"\n"
    data = (line * (size // len(line) + 1))[:size]
    return hashlib.sha256(data).hexdigest()


def test_ten_megabytes_on_each_stream_at_once(lab_config: Config, tmp_path: Path) -> None:
    pool = _pool(lab_config)
    out, err = tmp_path / "out", tmp_path / "err"
    seen: list[tuple[int, int]] = []
    cmd = (f"(yes err | head -c {TEN_MB} >&2) & yes out | head -c {TEN_MB}; wait")
    try:
        with open(out, "wb") as o, open(err, "wb") as e:
            result = pool.stream(lab_config.hosts[0], cmd, stdout=o, stderr=e, timeout=60,
                                 on_progress=lambda a, b: seen.append((a, b)))
    finally:
        pool.close()
    assert result.exit_code == 0 and not (result.truncated or result.timed_out)
    assert (result.stdout_bytes, result.stderr_bytes) == (TEN_MB, TEN_MB)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == _expected(b"out", TEN_MB)
    assert hashlib.sha256(err.read_bytes()).hexdigest() == _expected(b"err", TEN_MB)
    assert seen[-1] == (TEN_MB, TEN_MB)


def test_over_the_cap_is_cut_exactly_and_the_connection_goes_on(lab_config: Config,
                                                                 tmp_path: Path) -> None:
    pool = _pool(lab_config)
    host = lab_config.hosts[0]
    out = tmp_path / "out"
    started = time.monotonic()
    try:
        with open(out, "wb") as o, open(tmp_path / "err", "wb") as e:
            result = pool.stream(host, "yes capped", stdout=o, stderr=e, max_bytes=1_000_000,
                                 timeout=30)
        assert pool.run(host, "echo still here", capture=True).stdout == "still here\n"
    finally:
        pool.close()
    assert result.truncated and result.exit_code is None and not result.timed_out
    assert out.stat().st_size == result.stdout_bytes == 1_000_000
    assert out.read_bytes().startswith(b"capped\ncapped\n")
    assert time.monotonic() - started < 15


def test_timeout_and_cancel_keep_what_arrived(lab_config: Config, tmp_path: Path) -> None:
    pool = _pool(lab_config)
    host = lab_config.hosts[0]
    try:
        with open(tmp_path / "o1", "wb") as o, open(tmp_path / "e1", "wb") as e:
            timed = pool.stream(host, "echo before; echo warn >&2; sleep 8", stdout=o,
                                stderr=e, timeout=1.5)
        cancel = threading.Event()
        threading.Timer(0.8, cancel.set).start()
        with open(tmp_path / "o2", "wb") as o, open(tmp_path / "e2", "wb") as e:
            cancelled = pool.stream(host, "echo first; sleep 8", stdout=o, stderr=e,
                                    cancel=cancel, timeout=60)
    finally:
        pool.close()
    assert timed.timed_out and timed.exit_code is None and timed.duration < 10
    assert (tmp_path / "o1").read_bytes() == b"before\n"
    assert (tmp_path / "e1").read_bytes() == b"warn\n"
    assert cancelled.cancelled and not cancelled.timed_out and cancelled.duration < 10
    assert (tmp_path / "o2").read_bytes() == b"first\n"


def test_exit_status_and_empty_output(lab_config: Config, tmp_path: Path) -> None:
    pool = _pool(lab_config)
    try:
        with open(tmp_path / "o", "wb") as o, open(tmp_path / "e", "wb") as e:
            result = pool.stream(lab_config.hosts[0], "exit 3", stdout=o, stderr=e)
    finally:
        pool.close()
    assert result.exit_code == 3 and result.stdout_bytes == result.stderr_bytes == 0
