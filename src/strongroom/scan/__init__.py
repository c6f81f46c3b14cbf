"""The secret scanner: provider rules (``strongroom.rules``) over files, stdin and logs."""

from strongroom.scan.engine import Finding, Scanner

__all__ = ["Finding", "Scanner"]
