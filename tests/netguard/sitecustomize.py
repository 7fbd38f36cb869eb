"""Loaded by every Python process the notebook chain test starts (kernels, toolkit children, runners):
any attempt to reach a host other than this machine is refused and written to $NETGUARD_LOG.

Put on PYTHONPATH by tests/notebooks/test_chain.py; it only watches (audit hooks), it changes nothing else.
"""
import os
import sys

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")
_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto"}


def _host(event, args):
    if event == "socket.connect":
        addr = args[1]
        if isinstance(addr, (str, bytes)):  # AF_UNIX: local IPC
            return None
        return str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        return str(args[0])
    if event == "socket.sendto":
        addr = args[1]
        return str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
    return None


def _hook(event, args):
    if event not in _EVENTS:
        return
    host = _host(event, args)
    if not host or host.startswith(_LOCAL):
        return
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {sys.argv[:2]} {event} {host}\n")
    raise OSError(f"network blocked by the test guard: {event} {host}")


if _LOG:
    sys.addaudithook(_hook)
