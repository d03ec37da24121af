"""Covenant's audit trail: an RFC 9162 transparency log of every recorded event."""
