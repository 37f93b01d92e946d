"""auditor.proxy."""
