"""A ZenML alerter that appends each alert to a file and the log: the local stacks' alerter."""

from stacks.file_alerter.flavor import FileAlerterConfig, FileAlerterFlavor

__all__ = ["FileAlerterConfig", "FileAlerterFlavor"]
