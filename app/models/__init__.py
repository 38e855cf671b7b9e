"""Every model, imported so Alembic and the app see the whole schema."""
from .admin import AuditEvent, BlockedIP, ChartBucket, OnlineSample, TaskRun
from .channels import Channel, ChannelMember, ReadState
from .conversations import DirectPair, Mention, Pin, Reaction
from .events import Event
from .files import FileRef, StoredFile
from .messages import Message
from .moderation import Ban, Invite, Report
from .search import MessageTerm
from .server import ServerSettings
from .users import AuthToken, User

__all__ = ["AuditEvent", "AuthToken", "Ban", "BlockedIP", "Channel", "ChannelMember", "ChartBucket", "DirectPair",
           "Event", "FileRef", "Invite", "Mention", "Message", "MessageTerm", "OnlineSample", "Pin", "Reaction",
           "ReadState", "Report", "ServerSettings", "StoredFile", "TaskRun", "User"]
