"""Starting or joining Ray, with start-up failures turned into one clear line.

``connect(address)``: ``None`` / ``"local"`` starts a private local Ray (never silently
joins a cluster found on the machine); ``"auto"`` joins the cluster started on this
machine with ``ray start --head`` (or ``RAY_ADDRESS``); ``"ray://host:port"`` joins a
remote cluster through Ray Client; ``"host:port"`` joins a cluster's GCS directly.
A remote address is first probed with a plain TCP connection, so a cluster that does not
answer fails within ``timeout_s`` seconds instead of Ray's own minutes of retries.
``reach(address)`` joins and leaves again: the check a campaign makes before anything
long starts.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from autosnn.distributed.errors import RayStartError

__all__ = ["connect", "probe", "split_address", "reach", "is_local"]

#: Ray's client-server port (``ray start --head`` opens it by default).
CLIENT_PORT = 10001


def split_address(address: str) -> tuple[str, int]:
    """``ray://host:port`` or ``host:port`` -> ``(host, port)``."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        host, port = rest, str(CLIENT_PORT if address.startswith("ray://") else 6379)
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise RayStartError(f"evaluator.address {address!r}: expected null, 'auto', 'ray://host:port' or "
                            "'host:port'") from None


def probe(address: str, timeout_s: float) -> None:
    """Raise :class:`RayStartError` unless something accepts TCP connections at ``address``."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror:
        raise RayStartError(f"Ray cluster at {address}: unknown host {host!r}") from None
    except (socket.timeout, TimeoutError):
        raise RayStartError(f"Ray cluster at {address} does not answer (no reply within {timeout_s:g} s); "
                            "is `ray start --head` running there and the port open?") from None
    except OSError as exc:
        why = "connection refused" if isinstance(exc, ConnectionRefusedError) else (exc.strerror or str(exc))
        raise RayStartError(f"Ray cluster at {address} does not answer ({why}); is `ray start --head` running "
                            "there and the port open?") from None


def is_local(address: str | None) -> bool:
    """Whether ``address`` means a private local Ray (nothing to reach)."""
    return address in (None, "", "local")


def reach(address: str | None, *, timeout_s: float = 5.0) -> None:
    """Check now that the Ray cluster at ``address`` can be joined (probe, then
    ``ray.init``), and leave it again; raise :class:`RayStartError` (one line) if not.
    Nothing to do for a private local Ray, or when this process is connected already."""
    if is_local(address):
        return
    started = connect(address, timeout_s=timeout_s)
    if started:
        import ray

        ray.shutdown()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def connect(address: str | None = None, *, timeout_s: float = 5.0, init_kwargs: dict[str, Any] | None = None) -> bool:
    """Make sure this process is connected to Ray; returns True when *we* started it
    (so the caller should ``ray.shutdown()`` when done).

    An already initialised Ray is reused (a remote ``address`` is still probed first).
    ``init_kwargs`` go to ``ray.init`` when a local Ray is started (e.g. ``num_cpus``,
    ``object_store_memory``).
    """
    remote = address not in (None, "", "local", "auto")
    if address == "auto" and os.environ.get("RAY_ADDRESS", "") not in ("", "auto", "local"):
        address_to_probe: str | None = os.environ["RAY_ADDRESS"]
    else:
        address_to_probe = address if remote else None
    if address_to_probe is not None:
        probe(address_to_probe, timeout_s)

    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address in (None, "", "local"):
            kwargs.update(address="local", include_dashboard=False)
            kwargs.update(init_kwargs or {})
            ray.init(**kwargs)
        elif address.startswith("ray://"):
            ray.init(address=address)   # Ray Client: settings belong to the cluster, not to us
        else:
            ray.init(address=address, **kwargs)
    except RayStartError:
        raise
    except (ConnectionError, TimeoutError) as exc:
        if address == "auto":
            raise RayStartError("evaluator.address is 'auto' but no running Ray cluster was found on this machine "
                                f"({_first_line(exc)}); start one with `ray start --head`, or use address: null "
                                "for a private local Ray") from None
        raise RayStartError(f"could not join the Ray cluster at {address}: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
        where = "start a local Ray" if address in (None, "", "local") else f"join the Ray cluster at {address}"
        hint = ""
        text = str(exc).lower()
        if "shm" in text or "object store" in text or "memory" in text:
            hint = " (the object store lives in /dev/shm: free space there, or run the container with a larger --shm-size)"
        raise RayStartError(f"could not {where}: {_first_line(exc)}{hint}") from None
    return True
