"""Byte counts as people read them, for the CLI's tables and the TUI alike."""


def format_size(n: int) -> str:
    """``512B``, ``23.1K``, ``295.2M``: binary units, one decimal past bytes."""
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"
