# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""HSU_CONFIG_DIR as the unit reads it for Core Reconfigure."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence, Union


@dataclass(frozen=True)
class ConfigFile:
    """One file of HSU_CONFIG_DIR: its name there, the SHA-256 (hex) and the content."""

    name: str
    sha256: str
    content: bytes


@dataclass(frozen=True)
class ReconfigureEvent:
    """What the reload hook gets: the master's render count, the names it says
    changed (a hint) and every regular file of the directory, read again."""

    generation: int
    changed_files: Sequence[str]
    dir: str
    files: Sequence[ConfigFile]


OnReconfigure = Callable[[ReconfigureEvent], Union[None, Awaitable[None]]]
"""The reload hook: apply ``event.files``, or raise to refuse them (the master then restarts the unit)."""


class ConfigDirError(OSError):
    """HSU_CONFIG_DIR is unset or cannot be read; the message names the path."""


def read_config_dir(path: str | None) -> list[ConfigFile]:
    """Every regular file directly in ``path``, sorted by name. Dot files (the
    master's temp files) and anything that is not a regular file (a FIFO would
    block) are skipped."""
    if not path:
        raise ConfigDirError(
            "HSU_CONFIG_DIR is not set, so there is nothing to reload; give the unit `config:` files in hsu.yaml"
        )
    try:
        names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    except OSError as e:
        raise ConfigDirError(f"cannot read HSU_CONFIG_DIR {path}: {e.strerror or e}") from e
    files: list[ConfigFile] = []
    for name in names:
        full = os.path.join(path, name)
        try:
            if not stat.S_ISREG(os.stat(full).st_mode):
                continue
            with open(full, "rb") as f:
                content = f.read()
        except OSError as e:
            raise ConfigDirError(f"cannot read {full}: {e.strerror or e}") from e
        files.append(ConfigFile(name=name, sha256=hashlib.sha256(content).hexdigest(), content=content))
    return files
