"""Walk-forward research: folds, targets, models, the loop, its leakage audit and recorded runs."""
