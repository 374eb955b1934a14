"""The city model: real districts and towns, nested down to the management grid.

``load_city()`` returns the bundled Ningbo model; ``load_city("/path/to/dir")`` loads a
deployment's own ``city.json.gz`` (shape documented in :mod:`gridpulse.city.model`).
"""

from gridpulse.city.model import LEVELS, Area, CityModel, Grid, city_path, load_city

__all__ = ["LEVELS", "Area", "CityModel", "Grid", "city_path", "load_city"]
