"""The three node roles and the facts about them that more than one place needs: ports, image sizes.

Defined once here; the Dockerfile generator, `make images`, the image component and the size-budget policy
read them from this module.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = ("business", "slim", "validator")

# The node contract's ports (docs/reference/node-contract.md).
HTTP_PORT: Final = 9003
GRPC_PORT: Final = 9004
RAFT_PORT: Final = 9005
PORTS: Final = {
    "business": (HTTP_PORT, GRPC_PORT),
    "slim": (HTTP_PORT, GRPC_PORT),
    "validator": (HTTP_PORT, GRPC_PORT, RAFT_PORT),
}

# The plan's image sizes before this project (MB), which it aimed to halve.
PLAN_BASELINE_MB: Final = {"business": 800, "slim": 400, "validator": 600}
# The most each uncompressed image may weigh (MB, 10^6 bytes): the bar the images are built to meet.
SIZE_BAR_MB: Final = {"business": 160, "slim": 130, "validator": 200}


def check_role(role: str) -> str:
    """Returns ``role`` if it is one of the three, else raises ValueError naming them."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role
