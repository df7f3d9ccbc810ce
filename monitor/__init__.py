"""sunlight: the electronic-supervision daemon (电子监察)."""
