"""Lineage in the formats other tools read (OpenLineage)."""
