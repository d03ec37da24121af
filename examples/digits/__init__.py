"""A real, small training job for Covenant: scikit-learn's digits, trained by SGD."""
