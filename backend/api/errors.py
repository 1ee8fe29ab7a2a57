"""JSON errors for the REST API: a clear message naming the problem, never SQL."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from backend.validation import describe_validation

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


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
