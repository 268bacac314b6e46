"""Adapters that expose fnrag to other frameworks (each behind its own extra)."""
