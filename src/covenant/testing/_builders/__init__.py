"""The builders behind ``covenant.testing.builders``, one module per capability."""
