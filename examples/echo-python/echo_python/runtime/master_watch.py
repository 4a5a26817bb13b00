# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Master death (unit contract, section 6): stop when HSU_MASTER_PID is gone
or is no longer this process's parent."""

from __future__ import annotations

import asyncio
import os
from typing import Awaitable, Callable

POLL_INTERVAL_S = 0.25


def master_alive(pid: int, getppid: Callable[[], int] = os.getppid) -> bool:
    """True while `pid` exists and is still the parent of this process.

    The parent check catches a killed master whose pid lingers as a zombie
    or was reused: this process is re-parented the moment the master dies.
    """
    if getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return True


async def watch_master(
    pid: int,
    on_gone: Callable[[], None],
    alive: Callable[[int], bool] = master_alive,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    interval_s: float = POLL_INTERVAL_S,
) -> None:
    """Polls every `interval_s` and calls `on_gone` once when the master is gone."""
    while alive(pid):
        await sleep(interval_s)
    on_gone()
