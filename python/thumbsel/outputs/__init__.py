"""What thumbsel writes: images, the contact sheet, JSON, tables and the report.

Only writing happens here; every number comes from the stages before.
"""

from thumbsel.outputs.pick import write_pick

__all__ = ["write_pick"]
