"""Everything the server holds about one account: profile, memberships, messages (decrypted),
uploaded files with their bytes, as user.json plus files/, in a directory or a zip file."""
import json
import os
import zipfile

import sqlalchemy as sa

from .. import crypto
from ..extensions import db
from ..files.store import get_storage
from ..ids import iso
from ..models import AuthToken, Channel, ChannelMember, FileRef, Message, ReadState, StoredFile, User


def find_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username_key == username.lower()))


def _messages(user: User) -> list[dict]:
    rows = db.session.execute(sa.select(Message, Channel.name).join(Channel, Channel.id == Message.channel_id)
                              .where(Message.sender_id == user.id).order_by(Message.id))
    return [{"message_id": message.id, "channel_id": message.channel_id, "channel_name": channel_name,
             "message": crypto.decrypt(message.key_id, message.ciphertext, message.channel_id),
             "attachments": message.attachments, "sent_at": iso(message.sent_at)}
            for message, channel_name in rows]


def _files(user: User, message_ids: list[str]) -> list[tuple[FileRef, StoredFile]]:
    """The account's own avatar and banner, and the attachments of its messages."""
    mine = sa.or_(FileRef.user_id == user.id, FileRef.message_id.in_(message_ids)) if message_ids \
        else FileRef.user_id == user.id
    return list(db.session.execute(sa.select(FileRef, StoredFile).join(StoredFile, StoredFile.sha256 == FileRef.sha256)
                                   .where(mine).order_by(FileRef.id)).tuples())


def collect(user: User) -> tuple[dict, dict[str, str]]:
    """The JSON document and {name in the export: path on disk} of the account's files."""
    messages = _messages(user)
    storage, files, listed = get_storage(), {}, []
    for ref, stored in _files(user, [m["message_id"] for m in messages]):
        name = f"files/{stored.sha256}.{stored.ext}" if stored.ext else f"files/{stored.sha256}"
        path = storage.blob_path(stored.sha256)
        if os.path.exists(path):
            files[name] = path
        listed.append({"kind": ref.kind, "path": ref.path, "filename": ref.filename, "message_id": ref.message_id,
                       "channel_id": ref.channel_id, "sha256": stored.sha256, "size": stored.size,
                       "mime_type": stored.mime_type, "width": stored.width, "height": stored.height,
                       "created_at": iso(ref.created_at), "export_name": name if name in files else None})
    channels = db.session.execute(sa.select(Channel.id, Channel.name, ChannelMember.added_at)
                                  .join(ChannelMember, ChannelMember.channel_id == Channel.id)
                                  .where(ChannelMember.user_id == user.id).order_by(Channel.name))
    reads = db.session.scalars(sa.select(ReadState).where(ReadState.user_id == user.id))
    sessions = db.session.scalars(sa.select(AuthToken).where(AuthToken.user_id == user.id))
    document = {
        "profile": user.private_dict(),
        "memberships": [{"channel_id": cid, "channel_name": name, "joined_at": iso(joined)}
                        for cid, name, joined in channels],
        "read_states": [{column.name: _plain(getattr(state, column.key)) for column in ReadState.__table__.c}
                        for state in reads],
        "sessions": [{"created_at": iso(token.created_at), "expires_at": iso(token.expires_at)} for token in sessions],
        "messages": messages,
        "files": listed,
    }
    return document, files


def _plain(value):
    return iso(value) if hasattr(value, "isoformat") else value


def export(user: User, target: str) -> dict:
    """Write user.json and files/ into target: a zip file when it ends in .zip, else a directory."""
    document, files = collect(user)
    body = json.dumps(document, indent=1, ensure_ascii=False).encode()
    if target.endswith(".zip"):
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("user.json", body)
            for name, path in files.items():
                archive.write(path, name)
    else:
        os.makedirs(os.path.join(target, "files"), mode=0o700, exist_ok=True)
        with open(os.path.join(target, "user.json"), "wb") as handle:
            handle.write(body)
        for name, path in files.items():
            with open(path, "rb") as source, open(os.path.join(target, name), "wb") as out:
                out.write(source.read())
    return {"messages": len(document["messages"]), "files": len(files)}
