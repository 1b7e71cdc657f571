"""The expression data before any model: the simulated cohort, the train/test split, the
scaler, labels and exact zeros.

May import: numpy, pandas. Nothing else of this package.
"""
