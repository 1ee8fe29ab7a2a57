"""The pivot service: one answer for the pivot page, the REST API, the overview and exports.

``pivot_answer(stores, body, scope)`` validates a request body, answers it over
the rows the caller's data scope allows, from the result cache when allowed
(keyed by the normalised request, the scope and the data version: two users
with different scopes never share an answer) and describes the answer in ``meta``. It raises
``pydantic.ValidationError`` or ``PivotRequestError`` for a request the engine
refuses; each face turns those into its own kind of error message.
"""

from __future__ import annotations

import time
from typing import Any

from backend.access.principal import DataScope
from backend.access.scope_sql import scope_key
from backend.cache import cached_call, request_key
from backend.observability.metrics import observe_pivot
from backend.pivot.engine import run_pivot
from backend.pivot.request import PivotRequest
from backend.stores import Stores


def pivot_answer(stores: Stores, body: dict[str, Any] | PivotRequest, scope: DataScope) -> dict[str, Any]:
    """Validate, answer over the rows ``scope`` allows (from cache when allowed) and describe one pivot request."""
    req = body if isinstance(body, PivotRequest) else PivotRequest.model_validate(body)
    wh = stores.warehouse
    started = time.perf_counter()
    key = request_key("pivot", {**req.model_dump(mode="json"), "_scope": scope_key(scope)}, wh.data_version())
    payload, cached = cached_call(stores.cache.cache, key, lambda: run_pivot(wh, req, scope=scope).to_dict(),
                                  use_cache=req.cache)
    meta = dict(payload.get("meta") or {})
    meta["cached"] = cached
    meta["truncated"] = bool(payload.get("truncated"))
    meta["response_ms"] = round((time.perf_counter() - started) * 1000, 3)
    observe_pivot(meta["response_ms"] / 1000, cached=cached)
    return {**payload, "meta": meta}
