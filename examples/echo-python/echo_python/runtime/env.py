# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Reads the unit's environment (unit contract, section 1) into one frozen value,
so every check of a bad variable happens before anything listens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from .address import Address, AddressError, parse_address

DEFAULT_LISTEN = "127.0.0.1:50051"
_UNIT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class EnvError(ValueError):
    """A variable or flag the unit cannot run with; the unit exits with code 2."""


@dataclass(frozen=True)
class UnitEnv:
    """What the master (or the person starting the unit by hand) asked for."""

    unit_id: str
    listen: Address
    master_addr: Address | None
    token: str | None
    master_pid: int | None
    index: int | None
    config_dir: str | None = None
    """HSU_CONFIG_DIR: where the master renders the unit's config files (Core Reconfigure reloads them)."""

    @property
    def standalone(self) -> bool:
        """True when no master is waiting for the handshake."""
        return self.master_addr is None


def load_env(environ: Mapping[str, str], name: str, listen_flag: str | None = None) -> UnitEnv:
    """Builds a UnitEnv from variables and the --listen flag (the flag wins over HSU_LISTEN)."""
    unit_id = environ.get("HSU_UNIT_ID") or name
    if not _UNIT_ID.fullmatch(unit_id):
        raise EnvError(
            f"HSU_UNIT_ID={unit_id!r} is not a unit id: use [a-z0-9][a-z0-9._-]*, at most 63 characters"
        )
    if listen_flag is not None:
        listen = _address("--listen", listen_flag)
    else:
        listen = _address("HSU_LISTEN", environ.get("HSU_LISTEN") or DEFAULT_LISTEN)
    master_text = environ.get("HSU_MASTER_ADDR") or ""
    return UnitEnv(
        unit_id=unit_id,
        listen=listen,
        master_addr=_address("HSU_MASTER_ADDR", master_text) if master_text else None,
        token=environ.get("HSU_TOKEN") or None,
        master_pid=_number(environ, "HSU_MASTER_PID", minimum=1),
        index=_number(environ, "HSU_INDEX", minimum=0),
        config_dir=environ.get("HSU_CONFIG_DIR") or None,
    )


def _address(source: str, text: str) -> Address:
    try:
        return parse_address(text)
    except AddressError as err:
        raise EnvError(f"{source}: {err}") from err


def _number(environ: Mapping[str, str], key: str, minimum: int) -> int | None:
    text = environ.get(key) or ""
    if text == "":
        return None
    if not text.isascii() or not text.isdigit() or int(text) < minimum:
        raise EnvError(f"{key}={text!r} must be a whole number >= {minimum}")
    return int(text)
