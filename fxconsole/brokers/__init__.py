"""Broker adapters only: the Broker protocol (:mod:`.base`), the paper broker and OANDA v20.

Nothing here decides or keeps trading state; the live engine (:mod:`fxconsole.live`) does.
"""
