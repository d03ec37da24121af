"""Distributed gradient boosting for Covenant: LightGBM on Ray Train, scikit-learn's
breast cancer data."""
