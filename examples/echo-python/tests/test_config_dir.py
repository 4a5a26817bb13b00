"""HSU_CONFIG_DIR as Core Reconfigure reads it: regular files only, sorted,
each with its SHA-256; an unreadable directory is an error naming it."""

from __future__ import annotations

import hashlib
import os

import pytest

from echo_python.runtime.config import ConfigDirError, read_config_dir


def test_reads_regular_files_only_sorted_with_their_sha256(tmp_path):
    (tmp_path / "b.conf").write_text("two\n")
    (tmp_path / "a.conf").write_text("")
    (tmp_path / ".a.conf.tmp").write_text("half")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "pipe")  # would block a read: skipped, never opened
    files = read_config_dir(str(tmp_path))
    assert [f.name for f in files] == ["a.conf", "b.conf"]
    assert files[1].sha256 == hashlib.sha256(b"two\n").hexdigest()
    assert files[1].content == b"two\n"


def test_names_the_directory_it_cannot_read(tmp_path):
    missing = str(tmp_path / "gone")
    with pytest.raises(ConfigDirError, match="gone"):
        read_config_dir(missing)
    with pytest.raises(ConfigDirError, match="HSU_CONFIG_DIR is not set"):
        read_config_dir(None)
