"""The emojiqa web page: a FastAPI app serving a JSON API and a static, offline page.

Start it with ``emojiqa serve`` (binds to 127.0.0.1 by default) or build the app yourself::

    from emojiqa.web import create_app
    app = create_app()  # loads the bundled ranker on first use

Needs the ``web`` extra: ``pip install "emojiqa[web]"``.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
