"""Reference networks users can build with one call."""

from .classic import brunel_2000, vogels_abbott_coba
from .potjans_diesmann import potjans_diesmann

__all__ = ["vogels_abbott_coba", "brunel_2000", "potjans_diesmann"]
