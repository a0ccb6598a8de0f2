"""Device interfaces and the real drivers behind them."""
