# Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
# this folder from the template; your code goes in echo_python/services/.
"""The HSU runtime of this unit: environment, listener, Core API, health,
reflection, the handshake and graceful stop (docs: the unit contract).

It is part of your project, so you may read and change it, but your own code
normally lives in the services package.
"""

from .config import ConfigFile, ReconfigureEvent, read_config_dir
from .server import UnitSpec, main
from .unit import Unit

__all__ = ["ConfigFile", "ReconfigureEvent", "Unit", "UnitSpec", "main", "read_config_dir"]
