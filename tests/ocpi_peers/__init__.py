"""OCPI 2.2.1 counterpart platforms for testing our CPO role over real HTTP.

Our OCPI implementation is only trustworthy if it interoperates with platforms that were
not built from the same assumptions. These peers are therefore written from the OCPI 2.2.1
specification and the EVRoaming Foundation's OpenAPI description alone, and share no code
with ``core`` or ``plugins``:

* ``EmspPeer`` (``emsp.py``) is an eMSP: it performs (or accepts) the
  credentials handshake, receives and schema-checks what a CPO pushes (locations, sessions,
  CDRs, tariffs), serves tokens and real-time authorization, and sends commands.
* ``HubPeer`` (``hub.py``) is a roaming hub with eMSP parties behind it; it
  routes by the ``OCPI-to-*``/``OCPI-from-*`` headers and pushes ``ClientInfo`` objects.

Both run an aiohttp server on a free port of 127.0.0.1 and record every request they
receive, every object they reject and every protocol deviation they notice, so a test can
assert on what the CPO actually sent.

The package is imported as ``ocpi_peers`` (the tests directory is on ``sys.path`` under
pytest), e.g. ``from ocpi_peers import EmspPeer, HubPeer``.
"""

from .common import (
    OcpiClient,
    OcpiResponse,
    OcpiSchemas,
    PagedResult,
    Party,
    Routing,
)
from .emsp import CommandCall, EmspPeer, Partner, PartyStore
from .hub import HubPeer

__all__ = [
    "CommandCall",
    "EmspPeer",
    "HubPeer",
    "OcpiClient",
    "OcpiResponse",
    "OcpiSchemas",
    "PagedResult",
    "Partner",
    "Party",
    "PartyStore",
    "Routing",
]
