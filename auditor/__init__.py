"""auditor: an SSH session auditor for fleets of plain OpenSSH servers."""

__version__ = "0.1.0"
