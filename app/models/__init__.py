"""Every model, imported so Alembic and the app see the whole schema."""
from .admin import AuditEvent, BlockedIP, ChartBucket, OnlineSample, TaskRun
from .channels import Channel, ChannelMember, ReadState
from .files import FileRef, StoredFile
from .messages import Message
from .server import ServerSettings
from .users import AuthToken, User

__all__ = ["AuditEvent", "AuthToken", "BlockedIP", "Channel", "ChannelMember", "ChartBucket", "FileRef", "Message",
           "OnlineSample", "ReadState", "ServerSettings", "StoredFile", "TaskRun", "User"]
