"""RaDis: Rationale Distillation, as a reproducible experiment DAG (see README.md)."""

__version__ = "0.1.0"
