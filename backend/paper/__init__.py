"""Paper trading on the live board: portfolios, orders at the board's prices, FIFO lots."""
