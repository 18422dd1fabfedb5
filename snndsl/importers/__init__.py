"""Importers: other formats read into a spec and its weights (``nir``)."""
