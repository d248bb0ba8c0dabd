"""osidump's library: consistent, chunked, verified dump and restore for MySQL/MariaDB.

Data flows one way on export::

    snapshot -> chunk_plan -> rows -> encoder -> compressor -> sink (storage)

and restore runs the chain backwards::

    source (storage) -> decompressor -> decoder -> apply

This package never prints, exits, reads the environment or imports click: it
takes frozen config dataclasses and raises :class:`OsidumpError` subclasses.
"""

from .errors import OsidumpError
from .version import __version__

__all__ = ["OsidumpError", "__version__"]
