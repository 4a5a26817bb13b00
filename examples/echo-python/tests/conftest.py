"""Quiets gRPC's C core (its INFO lines about closed connections) before any test imports grpc."""

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
