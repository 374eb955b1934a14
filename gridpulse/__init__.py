"""gridpulse: the shared core every stage imports (wire schemas, city model, settings, CLI, runtime)."""

__version__ = "0.1.0"
