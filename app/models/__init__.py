"""Every model, imported so Alembic and the app see the whole schema."""
from .channels import Channel, ChannelMember, ReadState
from .files import FileRef, StoredFile
from .messages import Message
from .server import ServerSettings
from .users import AuthToken, User

__all__ = ["AuthToken", "Channel", "ChannelMember", "FileRef", "Message", "ReadState", "ServerSettings", "StoredFile",
           "User"]
