"""The trading environment (SPEC §4): the numba step core (:mod:`.core`), its batched
form (:mod:`.batch`), the market arrays (:mod:`.market_data`), trade metrics
(:mod:`.metrics`) and the gymnasium environment (:mod:`.env`, which registers
``fxconsole/Trading-v0`` when imported). Importing the package loads none of them.
"""
