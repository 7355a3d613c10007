"""``emojiqa serve``: the web page and its JSON API, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from typing import Any

from .common import add_parser

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(sub: Any) -> None:
    p = add_parser(sub, "serve", "Serve the web page (suggest, invent, explore the latent "
                   "space, score your own emoji) and its JSON API.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; anything but loopback exposes the server to the "
                   "network")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--model", default=None,
                   help="ranker folder (default: the bundled model)")
    p.add_argument("--max-text-chars", type=int, default=None,
                   help="longest text accepted (default: 1000)")
    p.add_argument("--max-upload-mb", type=float, default=None,
                   help="largest image upload in MB (default: 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads for inference (default: torch's choice)")
    p.add_argument("--no-warm-up", action="store_true",
                   help="build what an uploaded image needs on the first upload, not at start "
                   "(the server then holds about 100 MB less until that upload)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    try:
        import uvicorn

        from ..web.app import (
            DEFAULT_MAX_TEXT_CHARS,
            DEFAULT_MAX_UPLOAD_BYTES,
            create_app,
            trim_heap,
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the web server needs the 'web' extra ({exc.name} is missing): "
            'pip install "emojiqa[web]"') from exc
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a TCP port; use 1-65535")
    # bound before the model loads: a port in use is a clear error at once, and the server
    # listens on this very socket (no other process can take the port in between)
    sock = bind_socket(args.host, args.port)
    try:
        if args.threads is not None:
            import torch

            torch.set_num_threads(max(1, args.threads))
        from ..ranker import EmojiRanker

        # load once, before the first request (with the folder's stored emoji vectors, if any)
        ranker = EmojiRanker.from_pretrained(args.model)
        ranker.rank("hello", top_k=1)  # builds the candidate matrix now, not on a request
        trim_heap()  # and hands the scratch memory of loading back
        upload = (DEFAULT_MAX_UPLOAD_BYTES if args.max_upload_mb is None
                  else int(args.max_upload_mb * 2**20))
        app = create_app(ranker, max_text_chars=args.max_text_chars or DEFAULT_MAX_TEXT_CHARS,
                         max_upload_bytes=upload)
        # an upload's first score needs seconds of look-alike references and VAE codes: build
        # them beside the server (/api/health says warm when done)
        if not args.no_warm_up:
            app.state.models.warm_up_in_background()
        if args.host not in _LOOPBACK:
            print(f"emojiqa: warning: binding to {args.host} exposes the server beyond this "
                  "machine", file=sys.stderr)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        print(f"emojiqa: serving on http://{shown}:{args.port}/ (Ctrl+C stops)",
              file=sys.stderr, flush=True)
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                access_log=False, server_header=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()  # also when loading the model fails
    return 0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds one: ``SO_REUSEADDR``).

    Raises:
        ConfigError: the port is in use, the address is not this machine's, or binding is not
            allowed — saying which and what to do.
    """
    from ..errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc}); use "
                          "127.0.0.1, or 0.0.0.0 for every interface") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            why = ("is in use (another emojiqa serve, or another server); stop it or pass "
                   f"another --port, e.g. --port {port + 1 if port < 65535 else 8000}")
        elif exc.errno == errno.EACCES:
            why = "needs privileges this user lacks (ports below 1024); pass --port 8000"
        else:
            why = f"cannot be bound ({exc.strerror}); check --host and --port"
        raise ConfigError(f"{host}:{port} {why}") from exc
    return sock
