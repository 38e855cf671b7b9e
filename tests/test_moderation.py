"""Registration policy, invites, bans and timeouts over HTTP (in-process app)."""
import threading
from datetime import timedelta

import sqlalchemy as sa

from tests.api_helpers import PASSWORD, Api, assert_error, channel_entry, error_paths, make_channel, send


def _policy(api, owner, policy):
    response = api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={"registration": policy})
    assert response.status_code == 200, response.get_json()
    return response


def _signup(api, name, code=None):
    body = {"username": name, "password": PASSWORD, **({"invite_code": code} if code else {})}
    return api.call("POST", "/api/v1/users/signup", json=body)


def _invite(api, token, **body):
    response = api.call("POST", "/api/v1/invites", token=token, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["invite"]


def _signin(api, name):
    return api.call("POST", "/api/v1/users/signin", json={"username": name, "password": PASSWORD})


def test_registration_policy_is_validated_and_shown(api, owner, admin):
    assert api.call("GET", "/api/v1/system/server-info").get_json()["server_info"]["registration"] == "open"
    bad = api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={"registration": "maybe"})
    assert_error(bad, 400, "INVALID_FORM_BODY")
    refused = api.call("PUT", "/api/v1/system/server-info", token=admin["token"], json={"registration": "closed"})
    assert_error(refused, 403, "MISSING_ACCESS")
    assert _policy(api, owner, "invite_only").get_json()["server_info"]["registration"] == "invite_only"


def test_first_account_is_always_created(api, app):
    from app.extensions import db
    from app.models import ServerSettings
    with app.app_context():
        ServerSettings.get().registration = "closed"
        db.session.commit()
    assert _signup(api, "founder").status_code == 201  # the owner is never locked out
    assert_error(_signup(api, "second"), 403, "REGISTRATION_CLOSED")


def test_two_first_signups_racing_on_an_invite_only_server(app, api):
    from app.extensions import db
    from app.models import ServerSettings, User
    with app.app_context():
        ServerSettings.get().registration = "invite_only"
        db.session.commit()
    results, barrier = [], threading.Barrier(2)

    def sign_up(name):
        client = Api(app.test_client())
        barrier.wait()
        response = _signup(client, name)
        results.append((response.status_code, response.get_json().get("code")))

    threads = [threading.Thread(target=sign_up, args=(f"founder{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in results) == [201, 403], results  # only the owner is exempt
    assert "INVITE_REQUIRED" in {code for _, code in results}
    with app.app_context():
        users = db.session.scalars(sa.select(User)).all()
        assert [user.is_owner for user in users] == [True]


def test_invite_only_and_closed(api, owner):
    invite = _invite(api, owner["token"])
    _policy(api, owner, "invite_only")
    assert_error(_signup(api, "nocode"), 403, "INVITE_REQUIRED")
    assert_error(_signup(api, "badcode", "not-a-real-code"), 403, "INVALID_INVITE")
    assert _signup(api, "invited", invite["code"]).status_code == 201
    _policy(api, owner, "closed")
    assert_error(_signup(api, "late", invite["code"]), 403, "REGISTRATION_CLOSED")  # an invite does not open a closed server
    _policy(api, owner, "open")
    assert _signup(api, "anyone").status_code == 201


def test_invite_shape_uses_expiry_and_revocation(api, app, owner, user):
    invite = _invite(api, owner["token"], max_uses=1, expires_in=3600)
    assert set(invite) >= {"code", "url", "max_uses", "uses", "expires_at", "created_by", "created_at"}
    assert len(invite["code"]) >= 16 and invite["url"].endswith("/invite/" + invite["code"])
    assert (invite["max_uses"], invite["uses"], invite["created_by"]) == (1, 0, owner["id"])
    assert_error(api.call("POST", "/api/v1/invites", token=user["token"], json={}), 403, "MISSING_ACCESS")
    assert_error(api.call("POST", "/api/v1/invites", token=owner["token"], json={"max_uses": -1}), 400)
    _policy(api, owner, "invite_only")
    assert api.call("GET", f"/api/v1/invites/{invite['code']}").get_json()["invite"]["usable"] is True
    assert _signup(api, "first", invite["code"]).status_code == 201
    assert_error(_signup(api, "second", invite["code"]), 403, "INVALID_INVITE")  # used up
    listed = api.call("GET", "/api/v1/invites", token=owner["token"]).get_json()["invites"]
    assert [(i["code"], i["uses"]) for i in listed] == [(invite["code"], 1)]
    expired = _invite(api, owner["token"], expires_in=60)
    from app.extensions import db
    from app.ids import utcnow
    from app.models import Invite
    with app.app_context():
        db.session.execute(sa.update(Invite).where(Invite.code == expired["code"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(_signup(api, "third", expired["code"]), 403, "INVALID_INVITE")
    unlimited = _invite(api, owner["token"])
    assert api.call("DELETE", f"/api/v1/invites/{unlimited['code']}", token=owner["token"]).status_code == 200
    assert_error(api.call("DELETE", f"/api/v1/invites/{unlimited['code']}", token=owner["token"]), 404, "UNKNOWN_INVITE")
    assert_error(_signup(api, "fourth", unlimited["code"]), 403, "INVALID_INVITE")
    # The preview answers revoked and unknown codes alike: it tells nothing about which codes exist.
    revoked = api.call("GET", f"/api/v1/invites/{unlimited['code']}").get_json()["invite"]
    unknown = api.call("GET", "/api/v1/invites/xxxxxxxxxxxxxxxx").get_json()["invite"]
    assert revoked["usable"] is unknown["usable"] is False and set(revoked) == set(unknown)


def test_invite_joins_private_channels(app, api, owner):
    private = make_channel(api, owner["token"], "vip", private=True)
    public = make_channel(api, owner["token"], "lobby")
    bad = api.call("POST", "/api/v1/invites", token=owner["token"], json={"channel_ids": [public]})
    assert_error(bad, 404, "UNKNOWN_CHANNEL")
    for malformed in ({"id": private}, [private, 7], ["x" * 65], [""]):
        refused = api.call("POST", "/api/v1/invites", token=owner["token"], json={"channel_ids": malformed})
        assert error_paths(refused) == ["channel_ids"], malformed
    as_text = _invite(api, owner["token"], channel_ids=f" {private} ")  # comma-separated text works too
    assert as_text["code"]
    invite = _invite(api, owner["token"], channel_ids=[private])
    from app.extensions import db
    from app.realtime import log as event_log
    with app.app_context():
        since = event_log.newest()
        db.session.remove()
    response = _signup(api, "guest", invite["code"])
    token = response.get_json()["auth_token"]
    assert channel_entry(api, token, private) is not None
    polled = api.call("GET", "/api/v1/events", token=owner["token"], query={"since": since, "channel_id": private})
    assert [(e["type"], e["user_id"]) for e in polled.get_json()["events"]] == [
        ("member_added", token.split(".", 1)[0])]  # a token starts with its user id


def test_two_signups_racing_for_the_last_use(app, api, owner):
    invite = _invite(api, owner["token"], max_uses=1)
    _policy(api, owner, "invite_only")
    results, barrier = [], threading.Barrier(2)

    def sign_up(name):
        client = Api(app.test_client())
        barrier.wait()
        results.append(_signup(client, name, invite["code"]).status_code)

    threads = [threading.Thread(target=sign_up, args=(f"racer{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 403]
    listed = api.call("GET", "/api/v1/invites", token=owner["token"]).get_json()["invites"]
    assert listed[0]["uses"] == 1


def test_ban_role_rules(api, owner, admin, user):
    second_admin = api.signup("admin2")
    api.call("PUT", f"/api/v1/users/{second_admin['id']}/roles", token=owner["token"], json={"is_admin": True})
    assert_error(api.call("POST", f"/api/v1/users/{owner['id']}/ban", token=admin["token"]), 403, "CANNOT_MODERATE_OWNER")
    assert_error(api.call("POST", f"/api/v1/users/{second_admin['id']}/ban", token=admin["token"]), 403,
                 "CANNOT_MODERATE_ADMIN")
    assert_error(api.call("POST", f"/api/v1/users/{admin['id']}/ban", token=user["token"]), 403, "MISSING_ACCESS")
    assert_error(api.call("POST", "/api/v1/users/nobody/ban", token=admin["token"]), 404, "UNKNOWN_USER")
    bad = api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"], json={"delete_messages": "2y"})
    assert_error(bad, 400, "INVALID_FORM_BODY")
    # A refused ban changed nothing: the admin's token still works.
    assert api.call("POST", "/api/v1/users/profile", token=second_admin["token"]).status_code == 200
    assert api.call("POST", f"/api/v1/users/{admin['id']}/ban", token=owner["token"]).status_code == 200


def test_ban_revokes_tokens_refuses_signin_and_lifts(api, owner, admin, user):
    response = api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"], json={"reason": "spam"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ban"]["reason"] == "spam"
    assert_error(api.call("POST", "/api/v1/users/profile", token=user["token"]), 401, "INVALID_AUTH_TOKEN")
    assert_error(_signin(api, "alice"), 403, "BANNED")
    bans = api.call("GET", "/api/v1/bans", token=admin["token"]).get_json()["bans"]
    assert [(b["user_id"], b["username"]) for b in bans] == [(user["id"], "alice")]
    assert api.call("DELETE", f"/api/v1/users/{user['id']}/ban", token=admin["token"]).status_code == 200
    assert_error(api.call("DELETE", f"/api/v1/users/{user['id']}/ban", token=admin["token"]), 404, "NOT_BANNED")
    assert _signin(api, "alice").status_code == 200
    assert api.call("GET", "/api/v1/bans", token=admin["token"]).get_json()["bans"] == []


def test_temporary_ban_lifts_itself(app, api, admin, user):
    from app.accounts.moderation import is_banned
    from app.extensions import db
    from app.ids import utcnow
    from app.models import Ban
    api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"], json={"duration": 3600})
    with app.app_context():
        assert is_banned(user["id"])
        db.session.execute(sa.update(Ban).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert not is_banned(user["id"])
    assert api.call("GET", "/api/v1/bans", token=admin["token"]).get_json()["bans"] == []
    assert _signin(api, "alice").status_code == 200


def test_failed_ban_commit_leaves_tokens_and_sockets(app, api, admin, user, monkeypatch):
    from app.extensions import db
    from app.messaging import events
    announced = []
    monkeypatch.setattr(events, "tokens_revoked", lambda *args, **kw: announced.append(args))

    def fail():
        raise RuntimeError("database went away")
    monkeypatch.setattr(db.session, "commit", fail)
    assert api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"]).status_code == 500
    monkeypatch.undo()
    assert announced == []
    assert api.call("POST", "/api/v1/users/profile", token=user["token"]).status_code == 200


def test_timeout_blocks_sending_until_lifted(api, owner, admin, user):
    channel = make_channel(api, owner["token"], "general")
    too_long = api.call("POST", f"/api/v1/users/{user['id']}/timeout", token=admin["token"],
                        json={"duration": 28 * 86400 + 1})
    assert_error(too_long, 400, "TIMEOUT_TOO_LONG")
    assert_error(api.call("POST", f"/api/v1/users/{owner['id']}/timeout", token=admin["token"],
                          json={"duration": 60}), 403, "CANNOT_MODERATE_OWNER")
    response = api.call("POST", f"/api/v1/users/{user['id']}/timeout", token=admin["token"],
                        json={"duration": 600, "reason": "cool down"})
    assert response.status_code == 200 and response.get_json()["until"]
    refused = api.call("POST", f"/api/v1/channels/{channel}/send_message", token=user["token"], json={"message": "hi"})
    body = assert_error(refused, 403, "TIMED_OUT")
    assert body["until"] == response.get_json()["until"]
    # Reading still works.
    assert api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=user["token"]).status_code == 200
    assert api.call("DELETE", f"/api/v1/users/{user['id']}/timeout", token=admin["token"]).status_code == 200
    assert_error(api.call("DELETE", f"/api/v1/users/{user['id']}/timeout", token=admin["token"]), 404, "NOT_TIMED_OUT")
    send(api, user["token"], channel, "back again")


def test_moderation_actions_in_recent_activity(api, owner, admin, user):
    api.call("POST", f"/api/v1/users/{user['id']}/timeout", token=admin["token"], json={"duration": 60})
    api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"])
    api.call("DELETE", f"/api/v1/users/{user['id']}/ban", token=admin["token"])
    _invite(api, owner["token"])
    _policy(api, owner, "invite_only")
    activity = api.call("GET", "/api/v1/system/recent-activity", token=owner["token"], query={"limit": 20})
    moderation = [a for a in activity.get_json()["activities"] if a["type"] == "moderation"]
    actions = {a["metadata"]["action"] for a in moderation}
    assert actions >= {"timeout", "ban", "unban", "invite_created", "registration_changed"}
    ban = next(a for a in moderation if a["metadata"]["action"] == "ban")
    assert ban["user"]["id"] == admin["id"] and ban["metadata"]["target_id"] == user["id"]


def test_banned_caller_cannot_post_even_with_a_token_issued_in_a_race(app):
    from app.accounts.auth import Caller
    from app.accounts.moderation import ensure_can_post
    from app.errors import APIError
    caller = Caller("u1", "alice", "online", None, False, False, is_banned=True)
    with app.app_context():
        try:
            ensure_can_post(caller)
        except APIError as exc:
            assert (exc.status, exc.code) == (403, "BANNED")
        else:
            raise AssertionError("a banned caller was allowed to post")
