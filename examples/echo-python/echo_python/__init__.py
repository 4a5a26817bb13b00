"""echo-python: an HSU unit. Run it with `python -m echo_python`."""

UNIT_NAME = "echo-python"
"""The unit's name: its id when started by hand, and UnitInfo.name."""

__version__ = "0.1.0"
