"""The Quokka plugin: importing the package registers its source, layout, reward and answer format."""

from quokka import layout, reward, source  # noqa: F401
