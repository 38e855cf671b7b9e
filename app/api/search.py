"""/api/v1/search: messages the caller may read (blind index), users and channels."""
from flask import Blueprint, request

from ..accounts.auth import current_caller, login_required
from ..errors import ValidationError
from ..openapi import doc
from ..params import Params, request_json
from ..search.query import Filters
from ..search.service import MAX_QUERY_CHARS, id_bound, search as run_search
from .responses import ok

bp = Blueprint("search", __name__, url_prefix="/api/v1/search")

FIELDS = {"q": "str*", "channel_id": "str", "from_user_id": "str", "before": "str", "after": "str", "has": "str",
          "limit": "int", "cursor": "str"}
# Read by every route rather than by this one: the token, and ?debug=1 on errors.
_GENERAL = {"auth_token", "debug"}


def _refuse_unknown() -> None:
    """A filter this route does not know is a 400, not silently ignored (the results would mislead)."""
    names = set(request.args) | set(request.form) | set(request_json())
    unknown = sorted(names - set(FIELDS) - _GENERAL)
    if unknown:
        raise ValidationError([{"path": name, "message": "is not a search filter"} for name in unknown])


@bp.get("", strict_slashes=False)
@doc("Search messages of the channels you may read (every word must occur, case- and accent-insensitive), "
     "newest first and paged by cursor; the first page also lists users by name prefix and visible channels "
     "by name. before/after: a message id or an ISO 8601 time; has: attachment; limit: 1 to 50 (default 25)",
     FIELDS, responses={200: "results, next_cursor", 400: "Empty or over-long query, unknown filter, foreign cursor",
                        404: "Unknown channel"})
@login_required
def search():
    _refuse_unknown()
    params = Params()
    text = params.text("q", min_len=1, max_len=MAX_QUERY_CHARS, strip=True)
    channel_id = params.text("channel_id", required=False, max_len=64)
    from_user_id = params.text("from_user_id", required=False, max_len=64)
    before = params.text("before", required=False, max_len=64)
    after = params.text("after", required=False, max_len=64)
    has = params.text("has", required=False, choices={"attachment"})
    limit = params.integer("limit", default=25, minimum=1, maximum=50)
    cursor = params.text("cursor", required=False, max_len=512)
    params.done()
    filters = Filters(channel_id=channel_id, from_user_id=from_user_id,
                      below=id_bound("before", before, upper=True) if before else None,
                      above=id_bound("after", after, upper=False) if after else None,
                      has_attachment=has == "attachment")
    return ok(**run_search(current_caller(), text, filters, limit, cursor))
