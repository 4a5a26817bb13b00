# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Facts about this process for UnitInfo: runtime versions and start time."""

from __future__ import annotations

import os
import platform
import time

import grpc

_IMPORTED_AT = time.time()


def runtime_version() -> str:
    """The interpreter and its version, e.g. "CPython 3.11.7"."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def grpc_library() -> str:
    """The gRPC library serving the unit, e.g. "grpcio 1.85.3"."""
    return f"grpcio {grpc.__version__}"


def process_start_time() -> float:
    """When this process started (seconds since the epoch).

    Read from /proc so the time is the kernel's, not the moment Python got
    around to importing this module; falls back to that moment elsewhere.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        # The command name (field 2) may hold spaces: fields count from its ')'.
        start_ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT
