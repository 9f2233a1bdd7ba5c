"""Strawberry types, inputs, enums and scalars; `schema.py` builds the schema."""
