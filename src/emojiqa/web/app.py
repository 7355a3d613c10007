"""The web app: a JSON API over the ranker and the VAE, and the static page that uses it.

:func:`create_app` builds a FastAPI app that loads its models once (lazily, on the first
request that needs them, unless given). Every answer is JSON described by the OpenAPI schema
at ``/openapi.json``, except the latent grids (PNG) and the page itself. Errors are JSON
``{"detail": message, "error": kind}`` with the library's own message: an
:class:`~emojiqa.errors.EmojiqaError` maps to 400/404/413/422, a malformed request to 422, an
unknown route to 404, a body over the size limit to 413; a response never holds a stack
trace or a file path. Only the files in the package's ``static`` folder are served.

Example:
    >>> from emojiqa.web import create_app
    >>> app = create_app()  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from .. import __version__
from ..emojis import STYLES, EmojiSet, parse_skin_tone
from ..errors import (
    ConfigError,
    DataFileError,
    EmojiNotFoundError,
    EmojiqaError,
    ImageError,
    ModelLoadError,
    TextError,
    TrainingError,
)
from ..images import MAX_PIXELS, array_to_png_bytes, load_image, make_grid
from ..keywords import DEFAULT_KEYWORD_WEIGHT

log = logging.getLogger("emojiqa.web")

#: Longest text the API accepts, in characters (a tweet is 280).
DEFAULT_MAX_TEXT_CHARS = 1000
#: Largest image upload, in bytes (a 36×36 emoji needs a few kB).
DEFAULT_MAX_UPLOAD_BYTES = 2 * 2**20
#: Room for multipart headers and form fields on top of the upload itself.
_BODY_SLACK = 64 * 2**10
#: The folder the page is served from; nothing outside it is ever served.
STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
]
#: Everyday texts an uploaded emoji is scored against when the caller gives none.
EVERYDAY_TEXTS = (
    "got the job!!",
    "happy birthday to you",
    "my flight got cancelled again",
    "I love you so much",
    "this is hilarious",
    "so sad right now",
    "good morning everyone",
    "I'm so angry",
    "let's party tonight",
    "time for coffee",
    "good night, sleep well",
    "congratulations on the baby",
    "it's raining all day",
    "pizza for dinner",
    "I'm so tired",
    "thank you so much",
    "that's scary",
    "we won the game",
    "on my way to the beach",
    "missing you",
    "great job team",
    "ugh, Monday again",
    "the cat knocked it over",
    "happy new year",
)
Style = Literal["twemoji", "noto", "openmoji"]
GridKind = Literal["A", "B", "C"]


# ---------------------------------------------------------------------------------------------
# API schema
# ---------------------------------------------------------------------------------------------
class EmojiOut(BaseModel):
    """One emoji in an answer: its key, character, name, score and image."""

    key: str = Field(description="emoji key, e.g. 1f389")
    emoji: str = Field(description="the emoji character sequence, e.g. 🎉")
    name: str = Field(description="CLDR short name")
    score: float | None = Field(default=None, description="cosine score in [-1, 1] (if ranked)")
    image: str = Field(description="36×36 RGBA PNG as a data: URL")
    model_score: float | None = Field(
        default=None, description="with explain: the model's part of the score (cosine and head)")
    keyword_score: float | None = Field(
        default=None, description="with explain: the keyword score in [0, 1]")
    keywords: list[str] | None = Field(
        default=None, description="with explain: the words of the text that named this emoji")


class _Request(BaseModel):
    """A request body: a field it does not know (a typo such as ``topk``) is a 422 naming it,
    not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class SuggestRequest(_Request):
    """Rank the emoji set for one text."""

    text: str = Field(description="the text to answer", examples=["got the job!!"])
    top_k: int = Field(8, ge=1, le=50, description="how many emojis to return")
    style: Style = Field("twemoji", description="drawing style of the emoji set")
    skin_tone: str | int | None = Field(
        default=None, description="1-5, light, medium-light, medium, medium-dark, dark, or none")
    keyword_weight: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="weight of the boost for emojis whose CLDR name or keywords the text "
                    f"says (default {DEFAULT_KEYWORD_WEIGHT:g}; 0 = the model's score alone)")
    explain: bool = Field(False, description="take each score apart: model_score, "
                                             "keyword_score and the keywords that named it")
    groups: list[str] | None = Field(
        default=None, max_length=20, description="only emojis of these CLDR groups, e.g. "
        "smileys-emotion (GET /api/emojis shows each emoji's group)")
    exclude_groups: list[str] | None = Field(
        default=None, max_length=20, description="no emojis of these groups, e.g. flags")


class SuggestResponse(BaseModel):
    text: str
    style: str
    results: list[EmojiOut]
    elapsed_ms: float


class GenerateRequest(_Request):
    """Invent new emojis for a text with the VAE, guided by the ranker."""

    text: str = Field(examples=["robot cat"])
    n: int = Field(4, ge=1, le=8, description="how many emojis to invent")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="random seed")
    style: Style = Field("twemoji", description="drawing style the blends start from and "
                         "the nearest known emojis are shown in")
    method: Literal["blend", "prior"] = Field(
        "blend", description="blend: mixes of the text's best known emojis' codes, scored "
        "with look-alikes; prior: prior samples refined on the pixel score")
    steps: int | None = Field(default=None, ge=0, le=200,
                              description="refinement steps (default: the method's)")


class InventedOut(BaseModel):
    image: str = Field(description="36×36 RGBA PNG as a data: URL")
    score: float = Field(description="the ranker's cosine score for the text")
    nearest: EmojiOut = Field(description="the closest known emoji")
    blend: str | None = Field(default=None,
                              description="for a blend, the two known emojis mixed and "
                              "the first one's share, e.g. '💕 75% + 💜'")
    parents: list[EmojiOut] = Field([], description="for a blend, those two emojis (drawn "
                                    "in the style asked for)")
    weight: float | None = Field(default=None, description="for a blend, the first parent's share")


class GenerateResponse(BaseModel):
    text: str
    seed: int
    results: list[InventedOut]
    elapsed_ms: float


class FrameOut(BaseModel):
    image: str = Field(description="36×36 RGBA PNG as a data: URL")
    nearest: EmojiOut = Field(description="the closest known emoji in latent space")


class LatentResponse(BaseModel):
    frames: list[FrameOut]
    elapsed_ms: float


class SampleRequest(_Request):
    """Draw emojis from the VAE's prior."""

    n: int = Field(8, ge=1, le=32)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    style: Style = "twemoji"


class InterpolateRequest(_Request):
    """Walk the latent space in a straight line from emoji ``a`` to emoji ``b``."""

    a: str = Field(min_length=1, max_length=100, examples=["🐱"],
                   description="emoji character, key or name")
    b: str = Field(min_length=1, max_length=100, examples=["🤖"])
    steps: int = Field(8, ge=2, le=24)
    style: Style = "twemoji"


class BlendRequest(_Request):
    """Average the latent codes of a few emojis (optionally weighted)."""

    items: list[str] = Field(min_length=2, max_length=8, examples=[["🐱", "🤖"]])
    weights: list[float] | None = Field(default=None, min_length=2, max_length=8)
    style: Style = "twemoji"


class TextScore(BaseModel):
    text: str
    score: float = Field(description="cosine score of the uploaded emoji for this text")
    rank: int = Field(description="where the upload would rank among the known emojis (1 = top)")
    of: int = Field(description="how many emojis it was ranked among")


class ScoreImageResponse(BaseModel):
    image: str = Field(description="the upload as the 36×36 emoji the model sees")
    reconstruction: str = Field(description="the VAE's reconstruction of it")
    texts: list[TextScore] = Field(description="texts it answers, best first")
    nearest: list[EmojiOut] = Field(description="closest known emojis in latent space (look)")
    similar: list[EmojiOut] = Field(description="known emojis nearest it among the ranker's "
                                    "emoji vectors: those that answer the same texts (meaning)")


class SearchResponse(BaseModel):
    query: str
    results: list[EmojiOut]


class Limits(BaseModel):
    max_text_chars: int
    max_upload_bytes: int
    max_pixels: int


class HealthResponse(BaseModel):
    status: str
    version: str
    models_loaded: bool
    warm: bool = Field(description="what an upload in the default style needs is built "
                       "(at start, or by the first such upload with serve --no-warm-up)")
    styles: list[str]
    limits: Limits


class ErrorResponse(BaseModel):
    detail: str = Field(description="what was wrong and what to do")
    error: str = Field(description="kind of error, e.g. TextError")


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in [(400, "bad request"), (404, "not found"), (413, "too large"),
                       (422, "invalid input")]
}


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
class RequestTooLarge(HTTPException):
    """A body, upload or text over this server's limit (HTTP 413)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


class InvalidArgument(EmojiqaError, ValueError):
    """A library call refused an argument taken from the request (HTTP 422)."""


_STATUS = (
    (EmojiNotFoundError, 404),
    (InvalidArgument, 422),
    (TextError, 422),
    (ImageError, 422),
    (ConfigError, 400),
    (DataFileError, 400),
    (ModelLoadError, 503),
    (TrainingError, 500),
    (EmojiqaError, 400),
)
# absolute paths (POSIX or Windows) in a message are replaced, so no response shows one
_PATH_RE = re.compile(r"(?:[A-Za-z]:\\|/)(?:[^\s/\\:'\"]+[/\\])+[^\s/\\:'\"]*")


def _clean(message: str) -> str:
    return _PATH_RE.sub("<path>", str(message)).strip()[:2000]


def _error(status: int, detail: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": kind}, status_code=status)


@contextmanager
def _arguments_from_request() -> Iterator[None]:
    # the library validates its arguments with ValueError naming what is wrong; around calls
    # whose arguments come straight from the request, that is the client's error, not ours
    try:
        yield
    except EmojiqaError:
        raise
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc


def _status_for(exc: EmojiqaError) -> int:
    return next(code for cls, code in _STATUS if isinstance(exc, cls))


def _format_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            why = (err.get("ctx") or {}).get("error", "")
            pos = err.get("loc", ("", "?"))[-1]
            return (f"the request body is not valid JSON ({why} at character {pos}); send a "
                    "JSON object such as {\"text\": \"got the job!!\"}")
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "is required"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts) or "the request is not valid"


# ---------------------------------------------------------------------------------------------
# body size and security headers (pure ASGI, so streamed bodies are counted too)
# ---------------------------------------------------------------------------------------------
class _LimitsMiddleware:
    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        too_big = (f"the request body is over this server's {limit / 2**20:.1f} MB limit; "
                   "send a smaller image or a shorter text")
        started = False

        async def send_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message,
                           "headers": [*message.get("headers", []), *_SECURITY_HEADERS]}
            await send(message)

        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _error(400, "the Content-Length header is not a number", "BadRequest")(
                    scope, receive, send_headers)
                return
            if declared > limit:
                await _error(413, too_big, "RequestTooLarge")(scope, receive, send_headers)
                return
        received = 0

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(too_big)
            return message

        try:
            await self.app(scope, counted_receive, send_headers)
        except RequestTooLarge as exc:
            if started:
                raise
            await _error(413, exc.detail, "RequestTooLarge")(scope, receive, send_headers)


# ---------------------------------------------------------------------------------------------
# models, loaded once
# ---------------------------------------------------------------------------------------------
class _Models:
    """The ranker, the VAE and the emoji sets, loaded once and shared by every request."""

    def __init__(self, ranker: Any, vae: Any, model_path: str | Path | None) -> None:
        self._ranker = ranker
        self._vae = vae
        self.model_path = model_path
        self._load_lock = threading.Lock()
        # one model call at a time: on a small CPU, parallel torch calls only thrash
        self.lock = threading.RLock()
        # inventing takes seconds: it runs one at a time beside (not under) the main lock, so
        # suggestions keep coming while it works (inference only reads the weights)
        self.invent_lock = threading.Lock()
        self._sets: dict[str, EmojiSet] = {}
        self._bundled: dict[str, EmojiSet] = {}
        self._png: dict[tuple[str, str], str] = {}
        self._known: dict[str, np.ndarray] = {}
        self._grids: dict[tuple[str, int], bytes] = {}
        self.warm = False
        self._trimmed: set[tuple[str, str]] = set()  # one-off builds already trimmed after

    def warm_up(self, style: str = "twemoji") -> float:
        """Build now what the first upload (``/api/score-image``) would otherwise build:
        the ranker, the answer vectors and VAE codes of ``style``'s known emojis, and the
        look-alike references an uploaded drawing is compared with (seconds of work on the
        bundled model). Each step holds the model lock, so a request meanwhile waits for one
        step at most. Returns the seconds it took; sets :attr:`warm`."""
        from ..generate import nearest_known

        t0 = time.perf_counter()
        ranker = self.ranker()
        es = self.neighbours(style)
        self.known_vectors(style)
        with self.lock:
            nearest_known(self.vae(), es.images[:1], es)  # caches the set's VAE codes
        if getattr(ranker.config, "lookalike_k", 0) > 0:
            with self.lock:
                ranker.lookalikes(es.images[:1])  # builds the look-alike references
        self.trim_once("upload", style)
        self.warm = True
        seconds = time.perf_counter() - t0
        log.info("warm in %.1f s", seconds)
        return seconds

    def trim_once(self, kind: str, style: str) -> None:
        """:func:`trim_heap` after the first ``kind`` request (``suggest``, ``upload``) in
        ``style``, the one that built what its kind needs there; later ones build nothing."""
        if (kind, style) not in self._trimmed:
            self._trimmed.add((kind, style))
            trim_heap()

    def warm_up_in_background(self, style: str = "twemoji") -> threading.Thread:
        """Run :meth:`warm_up` in a daemon thread (an error there is logged; the request
        that needs the step builds it again and reports the error itself)."""
        def run() -> None:
            try:
                self.warm_up(style)
            except Exception:  # noqa: BLE001 - the requests will say what is wrong
                log.exception("warm-up failed")

        thread = threading.Thread(target=run, name="emojiqa-warm-up", daemon=True)
        thread.start()
        return thread

    @property
    def loaded(self) -> bool:
        return self._ranker is not None or self._vae is not None

    def ranker(self) -> Any:
        if self._ranker is None:
            with self._load_lock:
                if self._ranker is None:
                    from ..ranker import EmojiRanker

                    t = time.perf_counter()
                    self._ranker = EmojiRanker.from_pretrained(self.model_path)
                    log.info("loaded the ranker in %.1f s", time.perf_counter() - t)
        return self._ranker

    def vae(self) -> Any:
        if self._vae is None:
            self._vae = self.ranker().vae
        return self._vae

    def bundled(self, style: str) -> EmojiSet:
        """The full bundled set of ``style``: names, images and latent neighbours come from it."""
        if style not in self._bundled:
            self._bundled[style] = EmojiSet.bundled(style)
        return self._bundled[style]

    def neighbours(self, style: str) -> EmojiSet:
        """The bundled set without skin-tone variants: where latent neighbours are looked up."""
        key = f"{style}/no-tones"
        if key not in self._bundled:
            self._bundled[key] = self.bundled(style).filter(skin_tones=False)
        return self._bundled[key]

    def emoji_set(self, style: str) -> EmojiSet:
        """The set to rank: the ranker's own candidates when in this style, else the bundled."""
        if style not in self._sets:
            own = getattr(self.ranker(), "emojis", None)
            if own is not None and getattr(own, "style", None) == style:
                self._sets[style] = own
            else:
                self._sets[style] = self.bundled(style)
        return self._sets[style]

    def is_default_set(self, style: str) -> bool:
        return self.emoji_set(style) is getattr(self.ranker(), "emojis", None)

    def emoji_out(self, style: str, key: str, score: float | None = None,
                  source: EmojiSet | None = None) -> EmojiOut:
        """One emoji for a response, its image in ``style`` (or from ``source``, if given)."""
        es = self.bundled(style)
        if source is not None and key not in es:
            es = source
        i = es.index(key)
        info = es.info(i)
        url = self._png.get((es.style, info.key))
        if url is None:
            url = self._png[(es.style, info.key)] = _png_url(es.images[i])
        return EmojiOut(key=info.key, emoji=info.emoji, name=info.name,
                        score=None if score is None else round(float(score), 4), image=url)

    def known_vectors(self, style: str) -> np.ndarray:
        """Answer vectors (N, D) of the known emojis of ``style`` (no skin-tone variants),
        as :meth:`rank` scores them; computed once."""
        if style not in self._known:
            with self.lock:
                vecs = self.ranker().encode_emojis(self.neighbours(style))
            self._known[style] = np.asarray(vecs, dtype=np.float32)
        return self._known[style]


def trim_heap() -> bool:
    """Hand the C heap's free memory back to the system (glibc's ``malloc_trim``; False
    elsewhere). Building a style's candidates or the look-alike references is done once, in
    a worker thread whose malloc arena keeps the freed scratch memory otherwise: 50–120 MB
    each on the bundled model."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))


def _png_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(array_to_png_bytes(image)).decode()


def _generator(seed: int | None) -> tuple[Any, int]:
    import torch

    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    return torch.Generator().manual_seed(seed), seed


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


# ---------------------------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------------------------
def create_app(
    ranker: Any = None,
    vae: Any = None,
    *,
    model_path: str | Path | None = None,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> FastAPI:
    """Build the emojiqa web app: the JSON API under ``/api`` and the page at ``/``.

    Args:
        ranker: an :class:`~emojiqa.ranker.EmojiRanker`; ``None`` loads the one at
            ``model_path`` (or the bundled one) on the first request that needs it.
        vae: the VAE for the latent explorer; ``None`` uses the ranker's own VAE.
        model_path: ranker folder to load when ``ranker`` is ``None``.
        max_text_chars: longest text accepted (longer → HTTP 413).
        max_upload_bytes: largest image upload accepted (larger → HTTP 413).

    Returns:
        The FastAPI app; serve it with uvicorn (``emojiqa serve`` does).

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> client = TestClient(create_app(ranker))  # doctest: +SKIP
        >>> client.post("/api/suggest", json={"text": "got the job!!"}).json()["results"][0]
        ... # doctest: +SKIP
        {'key': '1f389', 'emoji': '🎉', 'name': 'party popper', 'score': 0.91, 'image': ...}
    """
    if max_text_chars < 1 or max_upload_bytes < 1:
        raise ConfigError(
            f"max_text_chars ({max_text_chars}) and max_upload_bytes ({max_upload_bytes}) "
            "must be positive")
    models = _Models(ranker, vae, model_path)
    app = FastAPI(
        title="emojiqa",
        version=__version__,
        description="Answer text with emojis, including emojis nobody has drawn yet.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the page is offline
        redoc_url=None,
    )
    app.state.models = models
    app.add_middleware(_LimitsMiddleware, max_body_bytes=max_upload_bytes + _BODY_SLACK)

    # -- errors ----------------------------------------------------------------------------
    @app.exception_handler(EmojiqaError)
    async def _emojiqa_error(request: Request, exc: EmojiqaError) -> JSONResponse:
        return _error(_status_for(exc), _clean(str(exc)), type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _clean(_format_validation(exc)), "ValidationError")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            path = request.url.path[:200]
            detail = (exc.detail if exc.detail not in (None, "Not Found")
                      else f"nothing here at {path}; the page is at / and the API under /api")
            return _error(404, str(detail), "NotFound")
        if exc.status_code == 405:
            return _error(405, f"{request.method} is not allowed on {request.url.path[:200]}",
                          "MethodNotAllowed")
        kind = "RequestTooLarge" if exc.status_code == 413 else "HTTPError"
        return _error(exc.status_code, _clean(str(exc.detail)), kind)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal server error; the server log has the details",
                      "InternalError")

    # -- helpers ---------------------------------------------------------------------------
    def check_text(text: str) -> str:
        if len(text) > max_text_chars:
            raise RequestTooLarge(
                f"the text is {len(text):,} characters; this server takes at most "
                f"{max_text_chars:,}. Shorten it.")
        from ..text import validate_text

        return validate_text(text)

    def check_style_tone(tone: str | int | None) -> int | None:
        try:
            return parse_skin_tone(tone)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    def nearest_frames(style: str, images: np.ndarray) -> list[FrameOut]:
        from ..generate import nearest_known

        es = models.neighbours(style)
        with models.lock:
            idx = nearest_known(models.vae(), images, es, k=1)
        return [FrameOut(image=_png_url(img), nearest=models.emoji_out(style, es.keys[ix[0]]))
                for img, ix in zip(images, idx, strict=True)]

    # -- API -------------------------------------------------------------------------------
    @app.get("/api/health", response_model=HealthResponse, tags=["meta"])
    def health() -> HealthResponse:
        """Is the server up, are the models loaded, and what are the limits."""
        return HealthResponse(
            status="ok", version=__version__, models_loaded=models.loaded, warm=models.warm,
            styles=list(STYLES),
            limits=Limits(max_text_chars=max_text_chars, max_upload_bytes=max_upload_bytes,
                          max_pixels=MAX_PIXELS))

    @app.post("/api/suggest", response_model=SuggestResponse, responses=_ERRORS,
              tags=["answer"])
    def suggest(req: SuggestRequest) -> SuggestResponse:
        """The emojis that best answer a text, best first, with scores and images."""
        t0 = time.perf_counter()
        text = check_text(req.text)
        tone = check_style_tone(req.skin_tone)
        ranker_ = models.ranker()
        es = models.emoji_set(req.style)
        emojis = None if models.is_default_set(req.style) else es
        with models.lock, _arguments_from_request():
            ranked = ranker_.rank(text, top_k=req.top_k, emojis=emojis, skin_tone=tone,
                                  groups=req.groups, exclude_groups=req.exclude_groups,
                                  keyword_weight=req.keyword_weight)
            why = (ranker_.explain(text, ranked, emojis, skin_tone=tone, groups=req.groups,
                                   exclude_groups=req.exclude_groups,
                                   keyword_weight=req.keyword_weight)
                   if req.explain else [{} for _ in ranked])
            models.trim_once("suggest", req.style)  # the first builds the style's candidates
        results = [models.emoji_out(req.style, r.key, r.score, source=es).model_copy(update={
            k: round(v, 4) if isinstance(v, float) else v for k, v in w.items()})
            for r, w in zip(ranked, why, strict=True)]
        return SuggestResponse(text=text, style=req.style, results=results,
                               elapsed_ms=_ms(t0))

    @app.post("/api/generate", response_model=GenerateResponse, responses=_ERRORS,
              tags=["generate"])
    def generate(req: GenerateRequest) -> GenerateResponse:
        """Invent new emojis for a text: new VAE codes the ranker scores high for it."""
        from ..invent import invent

        t0 = time.perf_counter()
        text = check_text(req.text)
        gen, seed = _generator(req.seed)
        ranker_ = models.ranker()
        es = models.emoji_set(req.style)
        known = None if models.is_default_set(req.style) else es
        with models.invent_lock, _arguments_from_request():
            with models.lock:  # what the style's ranking needs is built here, not beside it
                ranker_.rank(text, top_k=1, emojis=known)
            kw = {} if req.steps is None else {"steps": req.steps}
            found = invent(ranker_, text, n=req.n, method=req.method, generator=gen,
                           known=known, **kw)
        results = []
        for inv in found:
            near = inv.nearest
            try:
                near_out = models.emoji_out(req.style, near.key, near.score, source=es)
            except EmojiNotFoundError:
                near_out = EmojiOut(key=near.key, emoji=near.emoji, name=near.name,
                                    score=float(near.score), image=_png_url(inv.image))
            parents = [models.emoji_out(req.style, k, source=es) for k in inv.recipe[:2]]
            results.append(InventedOut(image=_png_url(inv.image),
                                       score=round(float(inv.score), 4), nearest=near_out,
                                       blend=inv.blend_text, parents=parents,
                                       weight=inv.recipe[2] if inv.recipe else None))
        return GenerateResponse(text=text, seed=seed, results=results, elapsed_ms=_ms(t0))

    @app.post("/api/latent/sample", response_model=LatentResponse, responses=_ERRORS,
              tags=["latent"])
    def latent_sample(req: SampleRequest) -> LatentResponse:
        """Random emojis drawn from the VAE's prior N(0, I)."""
        t0 = time.perf_counter()
        gen, _ = _generator(req.seed)
        with models.lock, _arguments_from_request():
            images = models.vae().sample(req.n, generator=gen)
        return LatentResponse(frames=nearest_frames(req.style, images), elapsed_ms=_ms(t0))

    @app.post("/api/latent/interpolate", response_model=LatentResponse, responses=_ERRORS,
              tags=["latent"])
    def latent_interpolate(req: InterpolateRequest) -> LatentResponse:
        """Frames on the straight line between two emojis' latent codes (a first, b last)."""
        from ..generate import interpolate

        t0 = time.perf_counter()
        es = models.bundled(req.style)
        with models.lock, _arguments_from_request():
            images = interpolate(models.vae(), req.a, req.b, steps=req.steps, emojis=es)
        return LatentResponse(frames=nearest_frames(req.style, images), elapsed_ms=_ms(t0))

    @app.post("/api/latent/blend", response_model=LatentResponse, responses=_ERRORS,
              tags=["latent"])
    def latent_blend(req: BlendRequest) -> LatentResponse:
        """One emoji whose latent code is the (weighted) mean of the given emojis' codes."""
        from ..generate import blend

        t0 = time.perf_counter()
        if req.weights is not None and len(req.weights) != len(req.items):
            raise ConfigError(f"{len(req.weights)} weights for {len(req.items)} items; give "
                              "one weight per item or none")
        es = models.bundled(req.style)
        with models.lock, _arguments_from_request():
            image = blend(models.vae(), list(req.items), weights=req.weights, emojis=es)
        frames = nearest_frames(req.style, np.asarray(image)[None])
        return LatentResponse(frames=frames, elapsed_ms=_ms(t0))

    @app.get("/api/latent/grid/{kind}", responses={
        200: {"content": {"image/png": {}}, "description": "the grid as a PNG image"},
        **_ERRORS}, response_class=Response, tags=["latent"])
    def latent_grid(
        kind: str,
        ticks: Annotated[int, Query(ge=2, le=20, description="cells per side")] = 12,
    ) -> Response:
        """The seed's latent grids: A, B and C sweep pairs of latent dimensions over [-2, 2]."""
        from ..generate import seed_grid

        if kind not in ("A", "B", "C"):
            raise EmojiNotFoundError(
                f"there is no grid {kind[:20]!r}; the seed's grids are A, B and C")
        png = models._grids.get((kind, ticks))
        if png is None:
            with models.lock:
                images = seed_grid(models.vae(), kind, ticks=ticks)
            import io

            buf = io.BytesIO()
            make_grid(images, ncol=ticks, scale=2, pad=1).save(buf, format="PNG")
            png = models._grids[(kind, ticks)] = buf.getvalue()
        return Response(png, media_type="image/png",
                        headers={"cache-control": "public, max-age=3600"})

    @app.post("/api/score-image", response_model=ScoreImageResponse, responses=_ERRORS,
              tags=["answer"])
    async def score_image(
        file: Annotated[UploadFile, File(description="an emoji image: PNG, JPEG, WebP, GIF")],
        texts: Annotated[str | None, Form(
            description="texts to score, one a line (default: everyday texts)")] = None,
        style: Annotated[Style, Form()] = "twemoji",
    ) -> ScoreImageResponse:
        """Which texts an uploaded emoji answers best, and the known emojis closest to it."""
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise RequestTooLarge(
                f"the image is over this server's {max_upload_bytes / 2**20:.1f} MB limit; "
                "an emoji needs no more than a few kB: shrink it first")
        if texts is not None and texts.strip():
            lines = [t.strip() for t in texts.splitlines() if t.strip()]
            if len(lines) > 100:
                raise RequestTooLarge(f"{len(lines)} texts; score at most 100 at a time")
            chosen = [check_text(t) for t in lines]
        else:
            chosen = list(EVERYDAY_TEXTS)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_score_image, data, chosen, style)

    def _score_image(data: bytes, texts: list[str], style: str) -> ScoreImageResponse:
        from ..generate import nearest_known

        image = load_image(data)  # (36, 36, 4); ImageError for bombs, corrupt files...
        ranker_ = models.ranker()
        known = models.known_vectors(style)  # (N, D)
        es = models.neighbours(style)
        with models.lock:
            tv = np.asarray(ranker_.encode_text(texts, normalize=True), np.float32)  # (T, D)
            # a new drawing: it borrows the corrections of the training drawings it looks
            # like when the model sets lookalike_k (the bundled one does), else pixels alone
            ev = np.asarray(ranker_.encode_emojis(
                image[None], lookalike=ranker_.config.lookalike_k > 0), np.float32)  # (1, D)
            vae_ = models.vae()
            recon = vae_.decode_images(vae_.embed(image[None]))[0]
            near = nearest_known(vae_, image[None], es, k=5)[0]
            models.trim_once("upload", style)  # the first builds what uploads need
        if style == "twemoji":
            models.warm = True  # built by this upload, if not by the warm-up
        scores = (tv @ ev.T)[:, 0]  # (T,)
        known_scores = tv @ known.T  # (T, N)
        ranks = 1 + (known_scores > scores[:, None]).sum(axis=1)
        order = np.argsort(-scores, kind="stable")
        alike = np.argsort(-(known @ ev[0]), kind="stable")[:5]  # as `emojiqa similar` finds
        return ScoreImageResponse(
            image=_png_url(image), reconstruction=_png_url(recon),
            texts=[TextScore(text=texts[i], score=round(float(scores[i]), 4),
                             rank=int(ranks[i]), of=len(es) + 1) for i in order],
            nearest=[models.emoji_out(style, es.keys[j]) for j in near],
            similar=[models.emoji_out(style, es.keys[j]) for j in alike])

    @app.get("/api/emojis", response_model=SearchResponse, responses=_ERRORS, tags=["emojis"])
    def search_emojis(
        q: Annotated[str, Query(max_length=100, description="words, an emoji or a key")] = "",
        style: Style = "twemoji",
        limit: Annotated[int, Query(ge=1, le=100)] = 24,
    ) -> SearchResponse:
        """Search the emoji set by name, keyword or character (empty query lists the first)."""
        es = models.bundled(style)
        found = es.search(q, limit=limit) if q.strip() else [
            e for e in (es.info(i) for i in range(min(len(es), limit * 2))) if not e.skin_tone
        ][:limit]
        return SearchResponse(query=q, results=[models.emoji_out(style, e.key) for e in found])

    # -- the page --------------------------------------------------------------------------
    def static_file(name: str) -> Response:
        # only plain files directly in STATIC_DIR with a known type; names never hold paths
        allowed = {p.name: p for p in STATIC_DIR.iterdir()
                   if p.is_file() and p.suffix in _STATIC_TYPES}
        path = allowed.get(name)
        if path is None:
            raise HTTPException(404, f"no static file named {name[:100]!r}")
        return Response(path.read_bytes(), media_type=_STATIC_TYPES[path.suffix],
                        headers={"cache-control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return static_file("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return static_file(name)

    return app
