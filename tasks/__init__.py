"""evalkit's built-in task families, one module per family (installed as ``evalkit_tasks``).

Importing this package registers every family with :mod:`evalkit.tasks`.
"""

from evalkit_tasks import add, reverse, sort_digits

__all__ = ["add", "reverse", "sort_digits"]
