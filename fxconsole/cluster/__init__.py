"""The Ray backend (issue 15, DESIGN.md "Beyond one machine").

With ``cluster.backend = "ray"`` the supervisor starts one more local worker,
``cluster`` (``workers/cluster.py``), the Ray driver: it places the collector actors
(:mod:`.actor`) on the cluster's nodes, puts the market data in the object store once,
sends the weights of each new ``latest``, and writes what the actors return into the run
folder and the console database (:mod:`.store`), so that each actor is a row of the
``workers`` table like a local collector. Nothing here assumes an actor shares a
filesystem with the console: actors receive arrays and bytes and return bytes and rows.
"""
