"""Live Vietnamese market: feeds, normalisation, processing core and alerts."""
