"""``fnrag serve``: the HTTP service for the bank's chat clients (extra ``serve``).

Endpoints (all JSON; errors are ``{"error": {"message", "type", "code"}}``):

- ``POST /v1/chat/completions`` — OpenAI-compatible (the official ``openai`` client works
  with ``base_url="http://HOST:PORT/v1"``); citations in ``choices[0].message.citations``,
  or with ``stream: true`` in the last SSE chunk's ``delta.citations``; extra body fields
  ``as_of``, ``k``, ``generator``, ``conversation_id``. ``GET /v1/models`` lists ``fnrag``.
- ``POST /v1/search``, ``POST /v1/feedback``; operators also ``POST /v1/admin/reload`` and
  ``GET /v1/admin/feedback`` (the down-voted or commented answers).
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (Prometheus text; no key needed).

Modules: ``config`` (ServeConfig), ``state`` (the loaded index and assistants, reload),
``app`` (``create_app``), ``chat`` (chat completions), ``routes`` (search, feedback,
admin, health), ``auth`` (keys, roles, rate limits, trusted proxy), ``errors``,
``limits`` (body size), ``metrics``, ``logs`` (JSON logs), ``server`` (workers, signals).

For code that adds routes (``fnrag.service.page``, included by ``create_app``), everything
the app loaded hangs on ``request.app.state``:

- ``request.app.state.service`` — the :class:`fnrag.service.state.ServiceState`:
  ``.assistant()`` (the current ``Assistant``; ``.assistant("extractive", k=3)`` for
  another generator or k), ``.index`` (the current ``Index``), ``.index_version``,
  ``.ready``, ``.config`` (the ``ServeConfig``), ``.db`` (a
  :class:`fnrag.storage.Database`; ``with db.begin() as conn`` for a transaction).
- ``request.app.state.config`` — the same ``ServeConfig``.
- Auth: ``from fnrag.service.auth import AsPractitioner, AsOperator``; a route parameter
  ``principal: AsPractitioner`` (or ``Depends(require("practitioner"))``) is the
  :class:`fnrag.service.auth.Principal` (name, role, via) — the dependency answers
  401/403/429 itself. ``principal.name`` is what the ``answers`` and ``conversations``
  tables store as ``user_name`` (``fnrag.storage.schema``). The page's own HTML/static routes may stay public; its browser code
  calls ``/v1/chat/completions`` with ``Authorization: Bearer KEY``.
- Errors: raise :class:`fnrag.service.errors.ApiError(status, message, code)`.

Example:
    >>> from fnrag.service.app import create_app  # doctest: +SKIP
    >>> app = create_app(ServeConfig(index="my-index", db="sqlite:///fnrag.db"))  # doctest: +SKIP
"""
