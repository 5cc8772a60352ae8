"""fastnn's version, in a module of its own: anything in the package can read it without importing
``fastnn/__init__`` (which imports everything), and pyproject.toml reads it for the distribution."""
__version__ = "0.1.0"
