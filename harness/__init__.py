"""Reproduction harness for explainable AIGI detection: compose, render, validate, run."""


def __getattr__(name: str) -> str:
    """``__version__`` on first use: importlib.metadata costs ~0.05 s on every dry run otherwise."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aigi-repro")
    except PackageNotFoundError:  # running from a checkout that was not installed
        return "0.0.0+unknown"
