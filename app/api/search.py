"""/api/v1/search: messages the caller may read (blind index), users and channels."""
from flask import Blueprint, request

from ..accounts.auth import current_caller, login_required
from ..errors import ValidationError
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from ..params import request_json
from ..search.query import Filters
from ..search.service import MAX_QUERY_CHARS, id_bound, search as run_search
from .responses import ok

bp = Blueprint("search", __name__, url_prefix="/api/v1/search")


class Search(Fields):
    q: Text(min_len=1, max_len=MAX_QUERY_CHARS, strip=True, description="Every word must occur (at most 16 words)")
    channel_id: Text(max_len=64) = None
    from_user_id: Text(max_len=64) = None
    before: Text(max_len=64, description="A message id or an ISO 8601 time") = None
    after: Text(max_len=64, description="A message id or an ISO 8601 time") = None
    has: Text(choices={"attachment"}) = None
    limit: Integer(1, 50) = 25
    cursor: Text(max_len=512, description="next_cursor of the previous page of the same query") = None


# Read by every route rather than by this one: the token, and ?debug=1 on errors.
_GENERAL = {"auth_token", "debug"}


def _refuse_unknown() -> None:
    """A filter this route does not know is a 400, not silently ignored (the results would mislead)."""
    names = set(request.args) | set(request.form) | set(request_json())
    unknown = sorted(names - set(Search.model_fields) - _GENERAL)
    if unknown:
        raise ValidationError([{"path": name, "message": "is not a search filter"} for name in unknown])


@bp.get("", strict_slashes=False)
@login_required
@endpoint("Search messages of the channels you may read (every word must occur, case- and accent-insensitive), "
          "newest first and paged by cursor; the first page also lists users by name prefix and visible channels "
          "by name", Search,
          {200: "results, next_cursor", 400: "Empty or over-long query, unknown filter, foreign cursor",
           404: "UNKNOWN_CHANNEL"})
def search(query: Search):
    _refuse_unknown()
    filters = Filters(channel_id=query.channel_id, from_user_id=query.from_user_id,
                      below=id_bound("before", query.before, upper=True) if query.before else None,
                      above=id_bound("after", query.after, upper=False) if query.after else None,
                      has_attachment=query.has == "attachment")
    return ok(**run_search(current_caller(), query.q, filters, query.limit, query.cursor))
