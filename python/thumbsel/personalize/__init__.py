"""Personalisation: choosing which artwork each viewer sees, and judging that choice offline."""

from thumbsel.personalize import ope

__all__ = ["ope"]
