"""What every OCPP version shares: the WebSocket endpoint, station admission and frame guards.

Version plugins contribute an :class:`~core.ocpp.protocol.OcppProtocol` per WebSocket subprotocol
through the ``openv2x_ocpp_protocols`` hook; the core negotiates the subprotocol, admits the
station, keeps its connection state and makes it reachable through the dispatcher.
"""
