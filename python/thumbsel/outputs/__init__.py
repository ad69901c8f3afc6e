"""What thumbsel writes: per-frame tables, candidate lists and images."""

from thumbsel.outputs.atomic import atomic_path, write_text

__all__ = ["atomic_path", "write_text"]
