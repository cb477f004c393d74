"""Brokers (paper, OANDA v20), the order journal, risk limits and the live trader."""
