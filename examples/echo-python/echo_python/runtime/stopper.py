# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""One place that records the first request to stop (Shutdown, a signal or
master death) and its drain deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

DEFAULT_DRAIN_S = 5.0
MASTER_GONE_DRAIN_S = 1.0


@dataclass(frozen=True)
class StopRequest:
    """Why the unit stops and how long calls in flight may still run."""

    reason: str
    grace_s: float


class Stopper:
    """Keeps the first stop request; later ones are logged by the caller and ignored."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._request: StopRequest | None = None

    def request_stop(self, reason: str, grace_s: float = DEFAULT_DRAIN_S) -> bool:
        """Asks the unit to stop; returns False if a stop was already under way."""
        if self._request is not None:
            return False
        self._request = StopRequest(reason, grace_s)
        self._event.set()
        return True

    @property
    def requested(self) -> StopRequest | None:
        return self._request

    async def wait(self) -> StopRequest:
        """Waits for the first stop request."""
        await self._event.wait()
        assert self._request is not None
        return self._request
