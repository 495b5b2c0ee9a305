"""Reproduction harness for explainable AIGI detection: compose, render, validate, run."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aigi-repro")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+unknown"
