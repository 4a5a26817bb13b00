"""Entry point: `python -m echo_python` (and the Nuitka binary) start the unit here."""

from echo_python import UNIT_NAME, __version__
from echo_python.runtime import UnitSpec, main
from echo_python.services.registry import register_services


def run() -> int:
    """Runs the unit and returns its exit code."""
    return main(UnitSpec(name=UNIT_NAME, version=__version__, register_services=register_services))


if __name__ == "__main__":
    raise SystemExit(run())
