"""The HTTP service (``strongroom serve``): FastAPI over the vault, tokens and the broker (extra ``[server]``)."""

from strongroom.server.app import create_app

__all__ = ["create_app"]
