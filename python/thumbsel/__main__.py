"""``python -m thumbsel``: the same as the ``thumbsel`` command."""

from thumbsel.cli import entry

if __name__ == "__main__":
    entry()
