"""Every model, imported so Alembic and the app see the whole schema."""
from .admin import AuditEvent, BlockedIP, ChartBucket, OnlineSample, TaskRun
from .channels import Channel, ChannelMember, ReadState
from .conversations import DirectPair, Mention, Pin, Reaction
from .files import FileRef, StoredFile
from .messages import Message
from .server import ServerSettings
from .users import AuthToken, User

__all__ = ["AuditEvent", "AuthToken", "BlockedIP", "Channel", "ChannelMember", "ChartBucket", "DirectPair", "FileRef",
           "Mention", "Message", "OnlineSample", "Pin", "Reaction", "ReadState", "ServerSettings", "StoredFile",
           "TaskRun", "User"]
