"""Joining (or starting) a Ray cluster with this project's hygiene.

Usage stats off; the dashboard off unless ``cluster.dashboard``; a private cluster's
session files in the workspace (``data/ray``; its unix sockets need a short path, so an
over-long one falls back to a per-workspace folder under the system's temp dir; a cluster
of ``ray start`` keeps them where it was told, ``--temp-dir``); the address logged
without credentials; a token (``RAY_AUTH_TOKEN``) read by Ray from the environment and
never logged here. A private cluster gets a token of its own, in the environment of the
driver and the Ray processes it starts only: Ray would otherwise write one, readable by
every local user, to ``~/.ray/auth_token``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxconsole.config import ClusterConfig

logger = logging.getLogger(__name__)

SOCKET_PATH_ROOM = 60  # Ray appends ~50 characters to its temp dir; unix sockets: 107
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be reached (no head at the address, or the head was lost)."""


@dataclass(frozen=True)
class Node:
    """A node of the cluster as the driver sees it."""

    node_id: str
    ip: str
    host: str
    alive: bool
    cpus: float
    free_cpus: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the driver's heartbeat info, ``status --json``)."""
        return {"node_id": self.node_id, "ip": self.ip, "host": self.host,
                "alive": self.alive, "cpus": self.cpus, "free_cpus": self.free_cpus}


def redact(address: str) -> str:
    """An address fit for a log: without ``user:secret@``."""
    return _USERINFO.sub("***@", address)


def ray_temp_dir(data_dir: Path) -> Path:
    """Where Ray keeps its session files: ``data/ray``, or a short per-workspace folder
    when that path would make Ray's socket paths too long."""
    inside = data_dir / "ray"
    if len(str(inside.resolve())) <= 107 - SOCKET_PATH_ROOM:
        return inside
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"fxray-{digest}"


HEAD_TIMEOUT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"


def hygiene_env(temp_dir: Path | None) -> dict[str, str]:
    """Environment for this process and the Ray processes it starts: for a private
    cluster (``temp_dir``), its session files there and every process on 127.0.0.1 (Ray
    reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when imported: "0" keeps a node off the
    host's routable address)."""
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_IMPORT_WARNING": "1",
           "RAY_DEDUP_LOGS": "0"}
    if temp_dir is None:
        return env
    return {**env, "RAY_TMPDIR": str(temp_dir), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def connect(cfg: ClusterConfig, data_dir: Path, namespace: str) -> str:
    """``ray.init`` per ``cluster.address``; returns the address joined (redacted).

    Call it before anything imports Ray in this process (a private cluster's environment
    must be in place when Ray reads it).

    Raises:
        ClusterUnavailable: no cluster answers at the address.
    """
    kwargs: dict[str, Any] = {"namespace": namespace, "logging_level": logging.WARNING,
                              "log_to_driver": False, "configure_logging": False}
    # how long Ray's client waits for a silent head before it ends this process
    os.environ.setdefault(HEAD_TIMEOUT_ENV, str(max(1, round(cfg.head_timeout))))
    if cfg.address:  # a cluster of `ray start`: its session files are where it keeps them
        check_reachable(cfg.address)
        os.environ.update(hygiene_env(None))
        kwargs["address"] = cfg.address  # "auto" reads the address `ray start` wrote
    else:  # a private one-host cluster that lives as long as this driver, on loopback
        temp_dir = ray_temp_dir(data_dir)
        temp_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(hygiene_env(temp_dir))
        if "RAY_AUTH_MODE" not in os.environ:  # the operator's choice stands
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
        kwargs.update(include_dashboard=cfg.dashboard, _temp_dir=str(temp_dir),
                      _node_ip_address="127.0.0.1")
    import ray

    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        raise ClusterUnavailable(
            f"no Ray cluster at {redact(cfg.address or 'a private one')}: "
            f"{redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    joined = cfg.address or "private"
    logger.info("joined Ray cluster %s (namespace %s)", redact(joined), namespace)
    return redact(joined)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` whose head does not accept connections: Ray's own
    client would end this process from native code instead of raising.

    Raises:
        ClusterUnavailable: nothing listens there.
    """
    hostport = address.split("://", 1)[-1].rsplit("@", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():  # "auto", or a form this check does not know
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterUnavailable(f"no Ray head answers at {redact(address)}: {exc}") from None


def nodes() -> list[Node]:
    """The cluster's nodes with their CPUs and free CPUs.

    Raises:
        ClusterUnavailable: the head does not answer.
    """
    import ray

    try:
        listed = ray.nodes()
        free = _free_by_node()
    except Exception as exc:  # the GCS is gone: Ray raises several kinds
        raise ClusterUnavailable(f"the cluster's head does not answer: {exc}") from None
    out = []
    for n in listed:
        cpus = float(n.get("Resources", {}).get("CPU", 0.0))
        node_id = str(n.get("NodeID", ""))
        out.append(Node(node_id, str(n.get("NodeManagerAddress", "")),
                        str(n.get("NodeManagerHostname", "")), bool(n.get("Alive")), cpus,
                        free.get(node_id, 0.0) if n.get("Alive") else 0.0))
    return out


def _free_by_node() -> dict[str, float]:
    """Free CPUs per node id (Ray's per-node available resources)."""
    from ray._private import state

    try:
        per_node = state.available_resources_per_node()
    except Exception:  # an API change: report none rather than fail the driver
        logger.debug("no per-node resources from this Ray", exc_info=True)
        return {}
    return {str(k): float(v.get("CPU", 0.0)) for k, v in per_node.items()}


def actor_state(handle: Any) -> str:
    """Ray's state of an actor (``PENDING_CREATION``, ``ALIVE``, ``RESTARTING``, ``DEAD``…;
    "" when this Ray does not say)."""
    from ray._private import state

    try:
        info = state.actors(actor_id=handle._actor_id.hex())
    except Exception:  # an API change, or the head gone (the nodes' read reports that)
        logger.debug("no actor state from this Ray", exc_info=True)
        return ""
    return str(info.get("State", "")) if isinstance(info, dict) else ""
