"""The research workbench's backend: datasets, indicators, walk-forward runs and simulations."""
