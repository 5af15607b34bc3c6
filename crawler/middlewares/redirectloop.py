"""RedirectLoopMiddleware: a redirect back to a URL of its own chain is a failure, not a silent drop.

Scrapy's RedirectMiddleware schedules the redirected request again; when it points at a URL the
chain already visited, the duplicate filter drops it without calling any errback, and the article
would vanish from the run with no log line and no failure to retry. Seen before the redirect
middleware (higher order), such a response becomes :class:`RedirectLoop` instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy.exceptions import IgnoreRequest
from w3lib.url import safe_url_string

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RedirectLoop(IgnoreRequest):
    """The upstream redirects in a circle."""


class RedirectLoopMiddleware:
    def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in REDIRECT_STATUSES or request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location")
        if not location:
            return response
        target = safe_url_string(urljoin(request.url, location.decode("latin-1")))
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if target in chain:
            logger.debug("redirect loop: %s → %s", request.url, target)
            raise RedirectLoop(f"redirect loop: {request.url} redirects back to {target}")
        return response
