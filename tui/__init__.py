"""kvmdeck: a terminal console for KVM hosts."""

__version__ = "0.1.0"
