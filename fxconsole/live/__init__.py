"""The live trading engine: bars in through a broker, decisions, orders out, under limits.

One owner per piece of state: :mod:`.execution` owns the orders and the believed position
(the order journal, :mod:`.journal`, is its persistence); :mod:`.ledger` the tracked
position, closed trades and risk counters; :mod:`.switches` the operator's switches and
the halt. :mod:`.risk` is a pure check, :mod:`.reconcile` returns a finding the engine
applies, :mod:`.status` turns a snapshot into metrics. :mod:`.engine` coordinates them.
"""
