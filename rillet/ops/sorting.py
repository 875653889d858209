"""sorting ops."""

__all__: list[str] = []
