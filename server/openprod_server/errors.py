"""HTTP errors of the relay, mapped to status codes in one place.

Handlers raise `HttpError(code, detail)`; `STATUS` says which HTTP status each stable code gets;
the JSON body is always {"error": code, "detail": text}, the form the web app reads.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

STATUS = {
    "malformed": 400,
    "bad_request": 400,
    "request_timeout": 408,
    "too_large": 413,
    "bad_signature": 401,
    "stale_request": 401,
    "replayed_request": 401,
    "not_owner": 403,
    "invalid_access_key": 403,
    "not_allowed": 403,
    "unknown_workspace": 404,
    "bad_genesis": 422,
    "rate_limited": 429,
    "unavailable": 503,
}


class HttpError(Exception):
    def __init__(self, code: str, detail: str, *, retry_after_s: int | None = None) -> None:
        if code not in STATUS:
            raise ValueError(f"unknown relay error code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else None
        return JSONResponse({"error": self.code, "detail": self.detail}, status_code=STATUS[self.code],
                            headers=headers)
