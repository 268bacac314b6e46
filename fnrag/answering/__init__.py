"""Answering: ``assistant`` (``Assistant``, ``ask``) runs one question through PII masking
(``pii``), retrieval, refusal (``refusal``), generation and citation checks
(``citations``), and logs it without raw PII (``logs``)."""
