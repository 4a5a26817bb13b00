"""Entry point: `python -m echo_python` (and the Nuitka binary) start the unit here."""

import logging

from echo_python import UNIT_NAME, __version__
from echo_python.runtime import ReconfigureEvent, UnitSpec, main
from echo_python.services.registry import register_services


def on_reconfigure(event: ReconfigureEvent) -> None:
    """Core Reconfigure: the master rewrote $HSU_CONFIG_DIR (`config:` in
    hsu.yaml) and asks the unit to take the files without a restart. Apply
    ``event.files`` here; raise to refuse them (the master then restarts the
    unit), or leave the hook out of UnitSpec to always be restarted."""
    for f in event.files:
        logging.getLogger("echo_python").info("config %s sha256 %s", f.name, f.sha256)


def run() -> int:
    """Runs the unit and returns its exit code."""
    return main(
        UnitSpec(name=UNIT_NAME, version=__version__, register_services=register_services, on_reconfigure=on_reconfigure)
    )


if __name__ == "__main__":
    raise SystemExit(run())
