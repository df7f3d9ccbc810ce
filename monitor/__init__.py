"""sunlight: the electronic-supervision daemon (电子监察)."""

__version__ = "0.1.0"
