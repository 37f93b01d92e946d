"""The TUI's screens: sessions, replay, failures, help."""
