"""JSON errors for the REST API: a clear message naming the problem, never SQL."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from backend.validation import describe_validation, safe_name

__all__ = ["ApiError", "describe_validation", "error_response", "install", "json_body", "safe_name"]

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def json_body(max_bytes: int = 1_000_000) -> dict[str, Any]:
    """The request's JSON object, or an ApiError saying what is wrong with it."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(f"request body is larger than {max_bytes:,} bytes", 413)
    raw = request.get_data(cache=False, as_text=False)
    if len(raw) > max_bytes:
        raise ApiError(f"request body is larger than {max_bytes:,} bytes", 413)
    if not raw.strip():
        raise ApiError("request body is empty: send a JSON object")
    import orjson

    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"request body is not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    return body


def install(bp: Blueprint) -> None:
    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.message, exc.status)

    @bp.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        return error_response(describe_validation(exc), 400)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.description or exc.name, exc.code or 500)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Details (which may hold SQL) go to the log only.
        log.exception("API request failed: %s %s", request.method, request.path)
        return error_response("the query failed on the server; the error has been logged", 500)
