"""The citizen web page (/complaint, /track, /video): a channel like the others. A phone number verified by a
one-time code is the citizen's address; the ticket is registered by the ticket domain."""

from channels.web.views import bp

NAME = "web"
__all__ = ["NAME", "bp"]
