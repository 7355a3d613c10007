"""The web API: every endpoint, each error case, the OpenAPI schema, and what is never served."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from emojiqa.emojis import EmojiSet  # noqa: E402
from emojiqa.errors import EmojiNotFoundError, TextError  # noqa: E402
from emojiqa.images import array_to_png_bytes, load_image  # noqa: E402
from emojiqa.ranker import EmojiRanker, RankerConfig, RankerNet  # noqa: E402
from emojiqa.text import Tokenizer, validate_text  # noqa: E402
from emojiqa.vae import VAE, VAEConfig  # noqa: E402
from emojiqa.web import create_app  # noqa: E402

SECRET_DIRS = ("/work", "/root", "/home", "/tmp", "site-packages", "Traceback", 'File "')


def save_tiny_ranker(folder: Path, vae: VAE | None = None) -> Path:
    """An untrained, tiny real ranker saved as a model folder, with a tiny random VAE or
    the given one."""
    torch.manual_seed(0)
    answers = EmojiSet.bundled("twemoji").filter(skin_tones=False).subset(range(0, 400, 10))
    vae = vae or VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8, 8)))
    cfg = RankerConfig.named("default", text_tower="bag", ngram_buckets=512, ngram_dim=8,
                             side_dim=8, answer_tower="latent", answer_hidden=(8,),
                             shared_dims=(8, 4), num_words=50)
    tok = Tokenizer(num_words=cfg.num_words, max_len=cfg.max_len).fit(
        ["happy birthday", "so angry", "pizza night", "got the job"])
    net = RankerNet(cfg, 50, len(answers), vae.config.latent_dim)
    EmojiRanker(cfg, net, tok, answers.keys, vae=vae).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_ranker(tmp_path_factory.mktemp("web") / "ranker")


@pytest.fixture(scope="module")
def ranker(model_dir) -> EmojiRanker:
    return EmojiRanker.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def client(ranker) -> TestClient:
    return TestClient(create_app(ranker), raise_server_exceptions=False)


def png_bytes(arr: np.ndarray) -> bytes:
    return array_to_png_bytes(arr)


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    return np.asarray(img.convert("RGBA"))


def assert_clean_error(r, status: int, *, contains: str = "") -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"detail", "error"} and isinstance(body["detail"], str)
    assert body["detail"], "an error must say what was wrong"
    for bad in SECRET_DIRS:
        assert bad not in r.text, f"{bad!r} leaked in {r.text}"
    if contains:
        assert contains in body["detail"], body["detail"]
    return body


# --------------------------------------------------------------------------------------------
# health, page, schema
# --------------------------------------------------------------------------------------------
def test_health_reports_limits_and_does_not_load_models(model_dir):
    c = TestClient(create_app(model_path=model_dir))
    h = c.get("/api/health").json()
    assert h["status"] == "ok" and h["models_loaded"] is False and h["warm"] is False
    assert h["styles"] == ["twemoji", "noto", "openmoji"]
    assert h["limits"]["max_text_chars"] == 1000 and h["limits"]["max_upload_bytes"] == 2**21
    assert c.post("/api/suggest", json={"text": "hi"}).status_code == 200  # loads lazily
    assert c.get("/api/health").json()["models_loaded"] is True


def test_warm_up_builds_what_an_upload_needs_before_the_first_upload(model_dir):
    import dataclasses

    r = EmojiRanker.from_pretrained(model_dir)
    r.config = dataclasses.replace(r.config, lookalike_k=3)  # borrows from look-alikes
    app = create_app(r)
    c = TestClient(app)
    assert c.get("/api/health").json()["warm"] is False
    assert r._lookalike_ref is None
    app.state.models.warm_up_in_background().join(timeout=120)
    assert c.get("/api/health").json()["warm"] is True
    ref = r._lookalike_ref
    assert ref is not None and r.vae.__dict__.get("_code_cache")
    img = EmojiSet.bundled("noto").images[5]
    up = c.post("/api/score-image", files={"file": ("a.png", png_bytes(img), "image/png")})
    assert up.status_code == 200 and up.json()["texts"]
    assert r._lookalike_ref is ref  # used as built, not built again


def test_without_warm_up_the_first_default_style_upload_makes_it_warm(ranker):
    c = TestClient(create_app(ranker))
    img = png_bytes(EmojiSet.bundled("noto").images[5])
    up = c.post("/api/score-image", files={"file": ("a.png", img, "image/png")},
                data={"style": "noto"})
    assert up.status_code == 200 and c.get("/api/health").json()["warm"] is False
    assert c.post("/api/score-image", files={"file": ("a.png", img, "image/png")}
                  ).status_code == 200
    assert c.get("/api/health").json()["warm"] is True


def test_page_and_static_files_are_served_with_types_and_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="ask"' in r.text and "/static/app.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css"),
                       ("index.html", "text/html")]:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)


def test_page_works_offline_no_external_urls():
    static = Path(__import__("emojiqa.web.app", fromlist=["STATIC_DIR"]).STATIC_DIR)
    for f in static.iterdir():
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f.name
        assert "cdn" not in text.lower(), f.name


def test_openapi_schema_lists_every_endpoint_with_valid_schemas(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "emojiqa"
    expected = {
        "/api/health": "get", "/api/suggest": "post", "/api/generate": "post",
        "/api/latent/sample": "post", "/api/latent/interpolate": "post",
        "/api/latent/blend": "post", "/api/latent/grid/{kind}": "get",
        "/api/score-image": "post", "/api/emojis": "get",
    }
    assert set(spec["paths"]) == set(expected)
    for path, method in expected.items():
        op = spec["paths"][path][method]
        assert "200" in op["responses"] and op.get("summary")
    schemas = spec["components"]["schemas"]
    for name in ["SuggestRequest", "SuggestResponse", "EmojiOut", "GenerateRequest",
                 "GenerateResponse", "InterpolateRequest", "BlendRequest", "SampleRequest",
                 "LatentResponse", "ScoreImageResponse", "SearchResponse", "HealthResponse",
                 "ErrorResponse"]:
        assert schemas[name]["type"] == "object" and schemas[name]["properties"]

    # every $ref resolves to a schema that exists
    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(spec):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    req = schemas["SuggestRequest"]
    assert req["required"] == ["text"]
    assert req["properties"]["top_k"]["maximum"] == 50
    assert set(req["properties"]["style"]["enum"]) == {"twemoji", "noto", "openmoji"}
    grid = spec["paths"]["/api/latent/grid/{kind}"]["get"]["responses"]["200"]["content"]
    assert "image/png" in grid
    for code in ("404", "413", "422"):
        assert code in spec["paths"]["/api/suggest"]["post"]["responses"]


# --------------------------------------------------------------------------------------------
# suggest
# --------------------------------------------------------------------------------------------
def test_suggest_ranks_with_names_scores_and_images(client, ranker):
    r = client.post("/api/suggest", json={"text": "got the job!!", "top_k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["style"] == "twemoji" and len(body["results"]) == 5
    scores = [e["score"] for e in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    expected = ranker.rank("got the job!!", top_k=5)
    assert [e["key"] for e in body["results"]] == [e.key for e in expected]
    first = body["results"][0]
    assert first["emoji"] == expected[0].emoji and first["name"] == expected[0].name
    img = decode_data_url(first["image"])
    assert img.shape == (36, 36, 4)
    assert np.array_equal(img, EmojiSet.bundled("twemoji").image(first["key"]))


def test_suggest_keyword_weight_is_passed_and_checked(client, ranker):
    text = "this pizza is amazing"
    for w in (0.0, 0.9):
        r = client.post("/api/suggest", json={"text": text, "top_k": 3, "keyword_weight": w})
        assert r.status_code == 200, r.text
        expected = ranker.rank(text, top_k=3, keyword_weight=w)
        assert [e["key"] for e in r.json()["results"]] == [e.key for e in expected]
    r = client.post("/api/suggest", json={"text": text, "keyword_weight": 1.5})
    assert r.status_code == 422 and "keyword_weight" in r.text


def test_suggest_explain_takes_scores_apart(client, ranker):
    """With ``explain``, each result carries the model's part, the keyword score and the
    words that named it — as ``EmojiRanker.explain`` gives them; without, none of it."""
    text = "this pizza is amazing"
    for w in (None, 0.5):
        body = {"text": text, "top_k": 4, "explain": True}
        if w is not None:
            body["keyword_weight"] = w
        got = client.post("/api/suggest", json=body).json()["results"]
        ranked = ranker.rank(text, top_k=4, keyword_weight=w)
        want = ranker.explain(text, ranked, keyword_weight=w)
        assert [e["key"] for e in got] == [r.key for r in ranked]
        for e, x in zip(got, want, strict=True):
            assert e["keywords"] == x["keywords"]
            assert e["model_score"] == pytest.approx(x["model_score"], abs=1e-4)
            assert e["keyword_score"] == pytest.approx(x["keyword_score"], abs=1e-4)
        assert got[0]["emoji"] == "🍕" and got[0]["keywords"] == ["pizza"]
    plain = client.post("/api/suggest", json={"text": text}).json()["results"][0]
    assert plain["keywords"] is None and plain["model_score"] is None


@pytest.mark.parametrize("style", ["noto", "openmoji"])
def test_suggest_in_another_style_uses_that_style_images(client, style):
    body = client.post("/api/suggest", json={"text": "pizza night", "style": style}).json()
    es = EmojiSet.bundled(style)
    for e in body["results"]:
        assert np.array_equal(decode_data_url(e["image"]), es.image(e["key"]))


def test_suggest_skin_tone(client):
    r = client.post("/api/suggest", json={"text": "waving hello", "skin_tone": "dark",
                                          "top_k": 50})
    assert r.status_code == 200
    r = client.post("/api/suggest", json={"text": "hi", "skin_tone": "purple"})
    assert_clean_error(r, 400, contains="skin tone 'purple' is not valid")


def test_suggest_group_filters_as_the_library_and_cli(client, ranker):
    text = "usa party"
    for body in ({"exclude_groups": ["flags"]}, {"groups": ["flags"]},
                 {"groups": ["smileys-emotion", "people-body"], "explain": True}):
        got = client.post("/api/suggest", json={"text": text, "top_k": 5, **body})
        assert got.status_code == 200, got.text
        want = ranker.rank(text, top_k=5, groups=body.get("groups"),
                           exclude_groups=body.get("exclude_groups"))
        assert [e["key"] for e in got.json()["results"]] == [r.key for r in want]
    flags = client.post("/api/suggest", json={"text": text, "groups": ["flags"]}).json()
    assert all(EmojiSet.bundled("twemoji").get(e["key"]).group == "flags"
               for e in flags["results"])
    r = client.post("/api/suggest", json={"text": text, "exclude_groups": ["flag"]})
    assert_clean_error(r, 422, contains="unknown emoji group(s) ['flag']")


@pytest.mark.parametrize(("route", "body"), [
    ("/api/suggest", {"text": "hi", "topk": 3}),
    ("/api/generate", {"text": "hi", "count": 2}),
    ("/api/latent/sample", {"n": 2, "sed": 1}),
    ("/api/latent/interpolate", {"a": "🐱", "b": "🐶", "step": 3}),
    ("/api/latent/blend", {"items": ["🐱"], "weight": [1]}),
])
def test_a_misspelt_field_is_422_not_ignored(client, route, body):
    typo = next(k for k in body if k not in ("text", "a", "b", "items", "n"))
    assert_clean_error(client.post(route, json=body), 422,
                       contains=f"{typo}: Extra inputs are not permitted")


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01"])
def test_suggest_empty_text_gives_the_library_message(client, text):
    with pytest.raises(TextError) as exc:
        validate_text(text)
    r = client.post("/api/suggest", json={"text": text})
    body = assert_clean_error(r, 422)
    assert body["detail"] == str(exc.value) and body["error"] == "TextError"


def test_suggest_text_over_the_limit_is_413(client):
    r = client.post("/api/suggest", json={"text": "word " * 300})
    assert_clean_error(r, 413, contains="this server takes at most 1,000")


@pytest.mark.parametrize("payload, message", [
    ({}, "text: is required"),
    ({"text": "hi", "top_k": 0}, "top_k"),
    ({"text": "hi", "top_k": 51}, "top_k"),
    ({"text": "hi", "style": "comic-sans"}, "style"),
    ({"text": 42}, "text"),
    ([1, 2], "body"),
])
def test_suggest_malformed_requests_are_422(client, payload, message):
    assert_clean_error(client.post("/api/suggest", json=payload), 422, contains=message)


@pytest.mark.parametrize("raw", [b"{bad json", b'{"text": "hi",}', b"\xff\xfe", b"null"])
def test_malformed_json_is_422(client, raw):
    r = client.post("/api/suggest", content=raw, headers={"content-type": "application/json"})
    assert_clean_error(r, 422)


# --------------------------------------------------------------------------------------------
# generate and the latent space
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "style"), [("blend", "twemoji"), ("prior", "twemoji"),
                                           ("blend", "noto")])
def test_generate_invents_seeded_emojis_with_nearest_known(client, method, style):
    req = {"text": "robot cat", "n": 2, "seed": 3, "steps": 2, "method": method,
           "style": style}
    a = client.post("/api/generate", json=req)
    assert a.status_code == 200, a.text
    a = a.json()
    assert a["seed"] == 3 and len(a["results"]) == 2
    for inv in a["results"]:
        assert decode_data_url(inv["image"]).shape == (36, 36, 4)
        assert -1 <= inv["score"] <= 1
        assert inv["nearest"]["key"] and inv["nearest"]["image"].startswith("data:image/png")
        assert (inv["blend"] is None) == (method == "prior")  # "💕 75% + 💜" for a blend
        if inv["blend"]:
            assert re.fullmatch(r"\S+ \d+% \+ \S+", inv["blend"]), inv["blend"]
            main, other = inv["parents"]  # drawn, for a page without an emoji font
            assert inv["blend"] == f"{main['emoji']} {inv['weight']:.0%} + {other['emoji']}"
            assert main["image"].startswith("data:image/png")
        else:
            assert inv["parents"] == [] and inv["weight"] is None
    b = client.post("/api/generate", json=req).json()
    assert [x["image"] for x in a["results"]] == [x["image"] for x in b["results"]]
    if style != "twemoji":  # blended from, and shown next to, that style's drawings
        tw = client.post("/api/generate", json={**req, "style": "twemoji"}).json()
        assert [x["image"] for x in a["results"]] != [x["image"] for x in tw["results"]]
        near = a["results"][0]["nearest"]
        noto = EmojiSet.bundled(style)
        assert np.array_equal(decode_data_url(near["image"]), noto.image(near["key"]))


def test_generate_errors(client):
    assert_clean_error(client.post("/api/generate", json={"text": " "}), 422,
                       contains="empty")
    assert_clean_error(client.post("/api/generate", json={"text": "hi", "n": 9}), 422,
                       contains="n:")
    assert_clean_error(client.post("/api/generate", json={"text": "hi", "method": "magic"}),
                       422, contains="method")


def test_latent_sample_is_seeded(client):
    a = client.post("/api/latent/sample", json={"n": 3, "seed": 1}).json()
    b = client.post("/api/latent/sample", json={"n": 3, "seed": 1}).json()
    assert len(a["frames"]) == 3 and a["frames"] == b["frames"]
    assert a["frames"][0]["nearest"]["name"]
    assert_clean_error(client.post("/api/latent/sample", json={"n": 0}), 422)


def test_latent_interpolate_walks_from_a_to_b(client, ranker):
    from emojiqa.generate import interpolate

    r = client.post("/api/latent/interpolate",
                    json={"a": "🐱", "b": "robot", "steps": 5, "style": "noto"})
    assert r.status_code == 200, r.text
    frames = r.json()["frames"]
    assert len(frames) == 5
    want = interpolate(ranker.vae, "🐱", "robot", steps=5, emojis=EmojiSet.bundled("noto"))
    assert np.array_equal(decode_data_url(frames[0]["image"]), want[0])
    assert np.array_equal(decode_data_url(frames[-1]["image"]), want[-1])


def test_latent_interpolate_unknown_emoji_is_404_with_the_library_message(client):
    es = EmojiSet.bundled("twemoji")
    with pytest.raises(EmojiNotFoundError) as exc:
        es.index("no such emoji zzz")
    r = client.post("/api/latent/interpolate", json={"a": "no such emoji zzz", "b": "🤖"})
    body = assert_clean_error(r, 404)
    assert body["detail"] == str(exc.value)
    assert_clean_error(client.post("/api/latent/interpolate",
                                   json={"a": "🐱", "b": "🤖", "steps": 1}), 422, contains="steps")


def test_latent_blend(client):
    r = client.post("/api/latent/blend", json={"items": ["🐱", "🤖"], "weights": [1, 3]})
    assert r.status_code == 200 and len(r.json()["frames"]) == 1
    assert_clean_error(client.post("/api/latent/blend", json={"items": ["🐱"]}), 422)
    r = client.post("/api/latent/blend", json={"items": ["🐱", "🤖"], "weights": [1, 2, 3]})
    assert_clean_error(r, 400, contains="3 weights for 2 items")
    assert_clean_error(client.post("/api/latent/blend", json={"items": ["🐱", "qqqzzz"]}), 404)
    # the library's own argument check, passed through as 422 with its message
    r = client.post("/api/latent/blend", json={"items": ["🐱", "🤖"], "weights": [1, -1]})
    assert_clean_error(r, 422, contains="not sum to 0")


@pytest.mark.parametrize("kind", ["A", "B", "C"])
def test_latent_grid_is_a_png(client, kind):
    r = client.get(f"/api/latent/grid/{kind}", params={"ticks": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.width >= 3 * 36 and img.height >= 3 * 36


def test_latent_grid_errors(client):
    assert_clean_error(client.get("/api/latent/grid/D"), 404, contains="A, B and C")
    assert_clean_error(client.get("/api/latent/grid/A", params={"ticks": 1}), 422,
                       contains="ticks")
    assert_clean_error(client.get("/api/latent/grid/A", params={"ticks": "many"}), 422)


# --------------------------------------------------------------------------------------------
# score an uploaded image
# --------------------------------------------------------------------------------------------
def test_score_image_ranks_everyday_texts_and_finds_nearest(client, ranker):
    cat = EmojiSet.bundled("noto").image("🐱")
    big = Image.fromarray(cat, "RGBA").resize((144, 144), Image.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    r = client.post("/api/score-image", files={"file": ("cat.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    scores = [t["score"] for t in body["texts"]]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 10
    assert all(1 <= t["rank"] <= t["of"] for t in body["texts"])
    assert len(body["nearest"]) == 5
    # meaning: the known emojis nearest the drawing's answer vector, best first
    es = EmojiSet.bundled("twemoji").filter(skin_tones=False)
    v = ranker.encode_emojis(load_image(buf.getvalue())[None],
                             lookalike=ranker.config.lookalike_k > 0)[0]
    best = np.argsort(-(ranker.encode_emojis(es) @ v), kind="stable")[:5]
    assert [e["key"] for e in body["similar"]] == [es.keys[j] for j in best]
    assert decode_data_url(body["image"]).shape == (36, 36, 4)
    assert decode_data_url(body["reconstruction"]).shape == (36, 36, 4)


def test_score_image_with_own_texts(client):
    img = png_bytes(EmojiSet.bundled("twemoji").image("🎉"))
    r = client.post("/api/score-image", files={"file": ("p.png", img, "image/png")},
                    data={"texts": "got the job\n\nhappy birthday\n"})
    assert r.status_code == 200
    assert {t["text"] for t in r.json()["texts"]} == {"got the job", "happy birthday"}


def test_uploaded_drawing_borrows_the_corrections_of_its_lookalikes(ranker):
    import dataclasses

    answers = ranker.answers
    torch.manual_seed(1)
    torch.nn.init.normal_(ranker.net.known.weight)  # corrections that matter
    try:
        ranker.config = dataclasses.replace(ranker.config, lookalike_k=1)
        c = TestClient(create_app(ranker), raise_server_exceptions=False)
        key = answers.keys[3]
        r = c.post("/api/score-image", files={"file": ("a.png", png_bytes(answers.image(key)),
                                                       "image/png")},
                   data={"texts": "got the job"})
        assert r.status_code == 200, r.text
        # a copy of a training drawing scores as that emoji does, correction included
        want = float(ranker.encode_text(["got the job"])[0] @ ranker.encode_emojis(
            answers.subset([3]))[0])
        assert r.json()["texts"][0]["score"] == pytest.approx(want, abs=1e-3)
    finally:
        ranker.config = dataclasses.replace(ranker.config, lookalike_k=0)
        torch.nn.init.zeros_(ranker.net.known.weight)


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # ~15 kB, 100 M pixels
    return buf.getvalue()


@pytest.mark.parametrize("name, data, status, message", [
    ("empty.png", b"", 422, "empty (0 bytes)"),
    ("notes.png", b"this is a text file, not an image", 422, "could not be read as an image"),
    ("cut.png", png_bytes(np.zeros((36, 36, 4), np.uint8))[:40], 422, "could not be read"),
    ("tiny.png", png_bytes(np.zeros((2, 2, 4), np.uint8)), 422, "needs at least 8×8"),
    ("bomb.png", _bomb(), 422, "decompression bomb"),
])
def test_score_image_bad_uploads_give_the_library_message(client, name, data, status, message):
    r = client.post("/api/score-image", files={"file": (name, data, "image/png")})
    body = assert_clean_error(r, status, contains=message)
    assert body["error"] == "ImageError"


def test_score_image_needs_a_file(client):
    assert_clean_error(client.post("/api/score-image", data={"texts": "hi"}), 422,
                       contains="file: is required")


def test_upload_over_the_limit_is_413(ranker):
    c = TestClient(create_app(ranker, max_upload_bytes=10_000), raise_server_exceptions=False)
    # within the body slack: refused by the upload check
    r = c.post("/api/score-image", files={"file": ("x.png", b"\x89PNG" + b"0" * 20_000)})
    assert_clean_error(r, 413, contains="limit")
    # far over: refused from the Content-Length header before the body is read
    r = c.post("/api/score-image", files={"file": ("x.png", b"0" * 200_000)})
    assert_clean_error(r, 413, contains="limit")


def test_streamed_body_without_length_is_cut_at_the_limit(ranker):
    c = TestClient(create_app(ranker, max_upload_bytes=1_000), raise_server_exceptions=False)

    def chunks():
        for _ in range(200):
            yield b'{"text": "' + b"a" * 1000

    r = c.post("/api/suggest", content=chunks(), headers={"content-type": "application/json"})
    assert_clean_error(r, 413, contains="limit")


def test_bad_content_length_is_400(client):
    r = client.post("/api/suggest", content=b'{"text":"hi"}',
                    headers={"content-type": "application/json", "content-length": "-5"})
    assert r.status_code in (400, 422)


# --------------------------------------------------------------------------------------------
# search
# --------------------------------------------------------------------------------------------
def test_search_emojis(client):
    r = client.get("/api/emojis", params={"q": "cat face", "limit": 3})
    body = r.json()
    assert r.status_code == 200 and body["results"][0]["emoji"] == "🐱"
    assert len(body["results"]) <= 3
    listed = client.get("/api/emojis", params={"limit": 5}).json()["results"]
    assert len(listed) == 5
    assert client.get("/api/emojis", params={"q": "zzzzqqqq"}).json()["results"] == []
    assert_clean_error(client.get("/api/emojis", params={"limit": 0}), 422)
    assert_clean_error(client.get("/api/emojis", params={"q": "x" * 101}), 422)
    assert_clean_error(client.get("/api/emojis", params={"style": "nope"}), 422)


# --------------------------------------------------------------------------------------------
# routes, traversal, leaks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/suggest/extra", "/static/",
                                  "/static/nope.js", "/docs", "/redoc"])
def test_unknown_routes_are_404(client, path):
    assert_clean_error(client.get(path), 404)


def test_wrong_method_is_405(client):
    assert_clean_error(client.get("/api/suggest"), 405)


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/app.py",
    "/static/..%2F..%2F__init__.py", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/....//app.py", "/static/..\\app.py", "/static/%5c..%5capp.py",
    "/static//etc/passwd", "/static/%2Fetc%2Fpasswd", "/static/app.js%00.png",
    "/static/.", "/static/..", "/../../etc/passwd", "/static/~/.bashrc",
])
def test_path_traversal_is_refused(client, path):
    r = client.get(path)
    if r.status_code == 200:  # the client normalised it to "/": the page itself, nothing else
        assert r.text == client.get("/").text, path
    else:
        assert r.status_code in (404, 405), (path, r.status_code)
    assert "def create_app" not in r.text and "root:" not in r.text and "[project]" not in r.text


def test_raw_traversal_over_the_socket_path(client):
    # bypass client-side URL normalisation: a raw ASGI path with ".." segments
    import anyio

    app = client.app
    seen: dict = {}

    async def run() -> None:
        scope = {"type": "http", "method": "GET", "path": "/static/../app.py",
                 "raw_path": b"/static/../app.py", "query_string": b"", "headers": [],
                 "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
                 "client": ("127.0.0.1", 1), "root_path": ""}
        body = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(msg):
            if msg["type"] == "http.response.start":
                seen["status"] = msg["status"]
            elif msg["type"] == "http.response.body":
                body.append(msg.get("body", b""))

        await app(scope, receive, send)
        seen["body"] = b"".join(body)

    anyio.run(run)
    assert seen["status"] == 404 and b"create_app" not in seen["body"]


def test_unexpected_errors_are_500_without_details(ranker):
    class Broken:
        vae = ranker.vae
        emojis = ranker.emojis

        def rank(self, *a, **k):
            raise RuntimeError("secret /etc/shadow at /work/main/src/x.py line 3")

    c = TestClient(create_app(Broken()), raise_server_exceptions=False)
    r = c.post("/api/suggest", json={"text": "hi"})
    body = assert_clean_error(r, 500)
    assert "secret" not in r.text and body["error"] == "InternalError"


def test_missing_model_is_503_without_the_path(tmp_path):
    c = TestClient(create_app(model_path=tmp_path / "no-such-model"),
                   raise_server_exceptions=False)
    r = c.post("/api/suggest", json={"text": "hi"})
    body = assert_clean_error(r, 503)
    assert body["error"] == "ModelLoadError" and "no-such-model" not in json.dumps(body)


def test_create_app_rejects_bad_limits():
    from emojiqa.errors import ConfigError

    with pytest.raises(ConfigError, match="must be positive"):
        create_app(max_text_chars=0)


# --------------------------------------------------------------------------------------------
# the serve command
# --------------------------------------------------------------------------------------------
def test_serve_command_defaults_to_loopback(capsys):
    from emojiqa.cli import build_parser, main

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.model is None
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0 and "127.0.0.1" in capsys.readouterr().out
    assert main(["serve", "--port", "70000"]) == 2
    assert "not a TCP port" in capsys.readouterr().err


def test_serve_on_a_port_in_use_is_a_clear_error_before_loading(capsys):
    import socket

    from emojiqa.cli import main

    with socket.socket() as taken:  # another server on that port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    out = capsys.readouterr()
    # it said "serving on" and then aborted with uvicorn's own error
    assert f"127.0.0.1:{port} is in use" in out.err and "--port" in out.err
    assert "serving on" not in out.err
    assert main(["serve", "--host", "nosuchhost.invalid"]) == 2
    assert "is not an address of this machine" in capsys.readouterr().err


def test_suggestions_keep_coming_while_inventing(client):
    import threading

    ref = client.post("/api/suggest", json={"text": "pizza night"}).json()["results"]
    done: dict = {}
    th = threading.Thread(target=lambda: done.setdefault("r", client.post(
        "/api/generate", json={"text": "robot cat", "n": 2, "steps": 30, "seed": 1})))
    th.start()
    answered = 0
    while th.is_alive() or answered == 0:
        got = client.post("/api/suggest", json={"text": "pizza night"}).json()["results"]
        assert got == ref  # same answer as alone: inventing does not disturb ranking
        answered += 1
    th.join()
    assert done["r"].status_code == 200 and answered >= 1


def test_a_model_folder_with_stored_vectors_is_served_from_them():
    """The bundled model's stored vectors of its own emoji set are what the server ranks with
    (no drawing is encoded: the server starts in a fraction of the time, with less memory),
    and they rank as the computed ones do."""
    app = create_app()  # the bundled model, loaded on the first request
    c = TestClient(app)
    r = c.post("/api/suggest", json={"text": "pizza night with friends", "top_k": 5})
    assert r.status_code == 200
    served = app.state.models.ranker()
    assert served._lookalike_ref is None  # nothing was encoded
    computed = EmojiRanker.from_pretrained(stored_vectors=False)
    want = computed.rank("pizza night with friends", top_k=5)
    assert [x["key"] for x in r.json()["results"]] == [x.key for x in want]
    for got, ref in zip(r.json()["results"], want, strict=True):
        assert got["score"] == pytest.approx(ref.score, abs=1e-3)


def test_trim_heap_is_a_no_op_where_there_is_no_glibc(monkeypatch):
    import ctypes

    from emojiqa.web.app import trim_heap

    assert isinstance(trim_heap(), bool)  # glibc here: trims (True when it freed any)

    def no_libc(*args, **kwargs):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert trim_heap() is False
