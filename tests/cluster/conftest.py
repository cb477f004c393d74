"""A local two-node Ray cluster on 127.0.0.1, shared by a test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from cluster_support import NODE, RAY_ENV  # isort: skip


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head and one more node, one CPU each; yields the head's address."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="fxr")  # short: Ray's socket paths must fit 107 chars
    saved = {k: os.environ.get(k) for k in (*RAY_ENV, "RAY_TMPDIR")}
    os.environ.update(RAY_ENV, RAY_TMPDIR=temp)
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    try:
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        yield str(cluster.address)
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
