"""auditor.tui."""
