"""indexing ops."""

__all__: list[str] = []
