"""Stand-in ``workers`` package for the daemon tests: put ``tests/ops/fake_workers`` first
on PYTHONPATH and the pool's ``python -m workers ROLE …`` runs this instead (stdlib and the
config only: a worker starts in a fraction of a second)."""
