"""Reading log slices: read_cached fills a buffer only with every byte asked for, else says no."""

from __future__ import annotations

from pathlib import Path

from executive.runtimes.logread import read_cached, read_slice


def test_read_cached_fills_exactly_the_bytes_at_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_bytes(bytes(range(256)) * 64)
    into = bytearray(300)
    assert read_cached(log, 10, memoryview(into))  # just written: in the page cache
    assert bytes(into) == (bytes(range(256)) * 64)[10:310] == read_slice(log, 10, 300)


def test_read_cached_says_no_for_what_the_file_does_not_hold(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_bytes(b"x" * 100)
    assert not read_cached(log, 50, memoryview(bytearray(51)))  # one byte past the end
    assert not read_cached(tmp_path / "missing.log", 0, memoryview(bytearray(1)))
    assert read_cached(log, 500, memoryview(bytearray(0)))  # nothing asked, nothing missing
    assert read_slice(tmp_path / "missing.log", 0, 10) == b"" and read_slice(log, 90, 50) == b"x" * 10
