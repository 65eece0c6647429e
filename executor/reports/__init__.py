"""What the store holds, read back for people: the equity curve and the trading day's report."""
