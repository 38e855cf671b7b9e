"""Every model, imported so Alembic and the app see the whole schema."""
from .channels import Channel, ChannelMember, ReadState
from .messages import Message
from .server import ServerSettings
from .users import AuthToken, User

__all__ = ["AuthToken", "Channel", "ChannelMember", "Message", "ReadState", "ServerSettings", "User"]
