# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""Runs the unit from start to exit: read the environment, listen, serve Core,
health, reflection and the domain services, register with the master, then
drain and exit on Shutdown, SIGTERM/SIGINT or master death."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import stat
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2_grpc

from ..gen.hsu.core.v1 import core_pb2, core_pb2_grpc
from . import core_service, health, reflection
from .address import Address
from .call_gate import CallGate
from .config import OnReconfigure
from .env import EnvError, UnitEnv, load_env
from .info import grpc_library, process_start_time, runtime_version
from .master_watch import watch_master
from .registration import RegistrationError, register
from .stopper import DEFAULT_DRAIN_S, MASTER_GONE_DRAIN_S, Stopper
from .unit import Unit

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_ENV = 2
EXIT_HANDSHAKE = 3

RegisterServices = Callable[[grpc.aio.Server, Unit], Sequence[str]]
"""Adds the domain services to the server and returns their full names."""

log = logging.getLogger("hsu.unit")


@dataclass(frozen=True)
class UnitSpec:
    """What the project supplies: its name, version, its services and,
    optionally, the reload hook of Core Reconfigure (without it Reconfigure
    answers UNIMPLEMENTED and config changes restart the unit)."""

    name: str
    version: str
    register_services: RegisterServices
    on_reconfigure: OnReconfigure | None = None


def main(spec: UnitSpec, argv: Sequence[str] | None = None) -> int:
    """Runs the unit and returns its exit code (0 stopped as asked, 2 bad environment, 3 handshake failed)."""
    args = _parse_args(spec, argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("grpc._cython.cygrpc").addFilter(_DropDeadlineCancellations())
    listen_flag = args.listen if args.listen is not None else (
        f"127.0.0.1:{args.port}" if args.port is not None else None
    )
    try:
        env = load_env(os.environ, spec.name, listen_flag)
        if env.listen.is_unix:
            _clear_stale_socket(env.listen.path)
    except EnvError as err:
        print(f"{spec.name}: bad environment: {err}", file=sys.stderr)
        return EXIT_BAD_ENV
    try:
        return asyncio.run(_serve(spec, env))
    finally:
        if env.listen.is_unix:
            _remove_socket(env.listen.path)


class _DropDeadlineCancellations(logging.Filter):
    """grpc.aio logs every call cancelled at the drain deadline as an unhandled
    error with a traceback; that cancellation is the contract's, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def _parse_args(spec: UnitSpec, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=spec.name,
        description=f"{spec.name} {spec.version}: an HSU unit. Under a master, HSU_* variables configure it.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--listen", help="address to serve on: unix:/path.sock or host:port (overrides HSU_LISTEN)")
    where.add_argument("--port", type=int, help="serve on 127.0.0.1:PORT (overrides HSU_LISTEN)")
    return parser.parse_args(argv)


async def _serve(spec: UnitSpec, env: UnitEnv) -> int:
    unit = Unit(unit_id=env.unit_id, name=spec.name, version=spec.version, index=env.index, env=env)
    stopper = Stopper()
    health_servicer = health.HealthServicer()
    gate = CallGate()
    # SO_REUSEPORT off: a second unit on a taken TCP port must fail, not share it.
    server = grpc.aio.server(interceptors=[gate], options=[("grpc.so_reuseport", 0)])
    address: Address = env.listen
    services: list[str] = []
    started = process_start_time()

    def info() -> core_pb2.UnitInfo:
        return _unit_info(unit, address, services, started)

    core_pb2_grpc.add_CoreServiceServicer_to_server(
        core_service.CoreServicer(env.unit_id, env.token, info, stopper, env.config_dir, spec.on_reconfigure), server
    )
    domain = list(spec.register_services(server, unit))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services += [
        core_service.SERVICE_NAME,
        *domain,
        health.SERVICE_NAME,
        reflection.V1_SERVICE_NAME,
        reflection.V1ALPHA_SERVICE_NAME,
    ]
    reflection.add_reflection(server, services)
    await health_servicer.set_serving(services)

    try:
        port = server.add_insecure_port(env.listen.grpc_target())
    except RuntimeError as err:
        log.error("cannot listen on %s: %s (is the address in use, or its directory missing?)", env.listen, err)
        return EXIT_FAILURE
    address = env.listen.with_port(port)
    await server.start()
    log.info("%s %s (unit %s) listening on %s", spec.name, spec.version, env.unit_id, address)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stopper, sig)
    watcher = None
    if env.master_pid is not None:
        watcher = asyncio.create_task(watch_master(env.master_pid, lambda: _on_master_gone(stopper, env)))
    try:
        if env.master_addr is not None and not await _handshake(env, env.master_addr, info(), stopper):
            await server.stop(0)
            return EXIT_HANDSHAKE
        request = await stopper.wait()
        log.info("stopping (%s): health NOT_SERVING, draining for up to %.3g s", request.reason, request.grace_s)
        await _drain(server, gate, health_servicer, request.grace_s)
        log.info("stopped")
        return EXIT_OK
    finally:
        if watcher is not None:
            watcher.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _drain(server: grpc.aio.Server, gate: CallGate, health_servicer: health.HealthServicer, grace_s: float) -> None:
    """Graceful stop: NOT_SERVING, refuse new calls, let calls in flight finish
    until the deadline, then stop the server (cancelling whatever is left)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    await health_servicer.enter_graceful_shutdown()
    gate.start_draining()
    try:
        await asyncio.wait_for(gate.wait_idle(), grace_s)
    except TimeoutError:
        log.warning("calls still running at the %.3g s deadline are cancelled", grace_s)
    await server.stop(max(deadline - loop.time(), 0.0))


async def _handshake(env: UnitEnv, master: Address, info: core_pb2.UnitInfo, stopper: Stopper) -> bool:
    """Registers with the master; False when the handshake failed (the unit exits 3).

    A stop requested while registering wins: the unit then drains and exits 0.
    """
    registering = asyncio.create_task(register(master, env.token, info))
    stopping = asyncio.create_task(stopper.wait())
    await asyncio.wait({registering, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not registering.done():
        registering.cancel()
        return True
    try:
        master_id = registering.result()
    except RegistrationError as err:
        print(f"{info.name}: handshake failed: {err}", file=sys.stderr)
        return False
    except Exception as err:  # any other failure of the handshake is still exit code 3, with its cause
        print(f"{info.name}: handshake failed: {type(err).__name__}: {err}", file=sys.stderr)
        return False
    log.info("registered with master %s at %s", master_id or "(unnamed)", master)
    return True


def _on_signal(stopper: Stopper, sig: signal.Signals) -> None:
    if not stopper.request_stop(sig.name, DEFAULT_DRAIN_S):
        log.info("%s received while already stopping; still draining", sig.name)


def _on_master_gone(stopper: Stopper, env: UnitEnv) -> None:
    stopper.request_stop(f"master process {env.master_pid} is gone", MASTER_GONE_DRAIN_S)


def _unit_info(unit: Unit, address: Address, services: Sequence[str], started: float) -> core_pb2.UnitInfo:
    info = core_pb2.UnitInfo(
        unit_id=unit.unit_id,
        name=unit.name,
        version=unit.version,
        runtime=core_pb2.Runtime(language="python", version=runtime_version(), grpc_library=grpc_library()),
        pid=os.getpid(),
        services=list(services),
        address=str(address),
    )
    info.start_time.FromNanoseconds(int(started * 1e9))
    return info


def _clear_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise EnvError(f"HSU_LISTEN: {path} exists and is not a socket; not deleting it. Pick another path.")
    os.unlink(path)


def _remove_socket(path: str) -> None:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
