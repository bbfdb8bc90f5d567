"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
import stat

import pytest

from chiptherm.atomic import FILE_MODE, atomic_path, atomic_write_text


def test_written_files_get_the_permissions_of_a_new_file(tmp_path):
    target = tmp_path / "out" / "a.txt"
    atomic_write_text(target, "hello")
    assert target.read_text() == "hello"
    assert stat.S_IMODE(os.stat(target).st_mode) == FILE_MODE


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
