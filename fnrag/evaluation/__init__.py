"""Evaluation: retrieval, citation and answer metrics, baselines, reports (``fnrag eval``)."""
