# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""What a service implementation may know about the unit it runs in."""

from __future__ import annotations

from dataclasses import dataclass

from .env import UnitEnv


@dataclass(frozen=True)
class Unit:
    """The running unit: its id (HSU_UNIT_ID, or the name when standalone),
    name, version, replica index (HSU_INDEX) and the full environment."""

    unit_id: str
    name: str
    version: str
    index: int | None
    env: UnitEnv
