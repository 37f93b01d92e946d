"""The TUI's widgets: each takes plain domain objects and posts its own messages."""
