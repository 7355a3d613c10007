// emojiqa page: talks only to the JSON API under /api. No libraries, works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { style: "twemoji", tone: "", noFlags: false, frames: [], suggestSeq: 0, limits: null };
// "?seed=7" in the address makes "Invent one" and "Surprise me" repeatable
const urlSeed = Number.parseInt(new URLSearchParams(window.location.search).get("seed"), 10);
const seed = Number.isInteger(urlSeed) && urlSeed >= 0 ? urlSeed : null;

// ---- API -------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, { json, form, signal, method } = {}) {
  const opts = { method: method || (json || form ? "POST" : "GET"), signal };
  if (json) {
    opts.headers = { "content-type": "application/json" };
    opts.body = JSON.stringify(json);
  } else if (form) {
    opts.body = form;
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The server did not answer. Is `emojiqa serve` still running?", 0);
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const msg = body && body.detail ? body.detail : `The server answered ${res.status}.`;
    throw new ApiError(msg, res.status);
  }
  return body;
}

function showError(id, err) {
  const el = $(id);
  if (!err) { el.hidden = true; el.textContent = ""; return; }
  if (err.name === "AbortError") return;
  el.textContent = err.message;
  el.hidden = false;
}

function setStatus(id, text) { $(id).textContent = text; }

// ---- small UI pieces -------------------------------------------------------------------------
let toastTimer = null;
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 1800);
}

async function copy(text, label) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`Copied ${text} ${label}`);
  } catch {
    // clipboard needs a secure context; 127.0.0.1 is one, but fall back anyway
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand && document.execCommand("copy");
    ta.remove();
    toast(ok ? `Copied ${text} ${label}` : `Select and copy: ${text}`);
  }
}

function img(src, alt, size) {
  const el = document.createElement("img");
  el.src = src;
  el.alt = alt;
  el.width = size;
  el.height = size;
  el.className = "px";
  return el;
}

function scoreBar(score) {
  const wrap = document.createElement("span");
  wrap.className = "bar";
  const fill = document.createElement("span");
  // cosine in [-1, 1] -> [0, 100] %
  const pct = Math.max(0, Math.min(100, ((score + 1) / 2) * 100));
  fill.style.width = `${pct.toFixed(1)}%`;
  wrap.appendChild(fill);
  wrap.setAttribute("role", "meter");
  wrap.setAttribute("aria-valuemin", "-1");
  wrap.setAttribute("aria-valuemax", "1");
  wrap.setAttribute("aria-valuenow", score.toFixed(3));
  wrap.setAttribute("aria-label", "score");
  return wrap;
}

function emojiCard(e, { size = 72, extra = null } = {}) {
  const li = document.createElement("li");
  const btn = document.createElement("button");
  btn.type = "button";
  btn.className = "emoji-card";
  btn.title = `Copy ${e.emoji} ${e.name}`;
  btn.setAttribute("aria-label", `${e.name}${e.score != null ? `, score ${e.score.toFixed(2)}` : ""}. Copy ${e.emoji}`);
  btn.appendChild(img(e.image, e.name, size));
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = e.name;
  btn.appendChild(name);
  if (e.score != null) {
    const row = document.createElement("span");
    row.className = "score";
    row.appendChild(scoreBar(e.score));
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = e.score.toFixed(2);
    row.appendChild(num);
    btn.appendChild(row);
  }
  if (extra) btn.appendChild(extra);
  btn.addEventListener("click", () => copy(e.emoji, e.name));
  li.appendChild(btn);
  return li;
}

// The words of the text that named an emoji (explained suggestions), or null.
function namedBy(e) {
  if (!e.keywords || !e.keywords.length) return null;
  const why = document.createElement("span");
  why.className = "why";
  why.textContent = `“${e.keywords.join("”, “")}”`;
  why.title = `named by the word${e.keywords.length > 1 ? "s" : ""} ${e.keywords.join(", ")}` +
    (e.model_score != null ? `; the model alone scores it ${e.model_score.toFixed(2)}` : "");
  return why;
}

function debounce(fn, ms) {
  let t = null;
  const run = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  run.cancel = () => clearTimeout(t);
  return run;
}

// ---- suggest -----------------------------------------------------------------------------------
let suggestAbort = null;

async function suggest({ live = false } = {}) {
  const text = $("ask").value;
  if (live && !text.trim()) {
    showError("ask-error", null);
    $("suggestions").replaceChildren();
    setStatus("ask-status", "Type something to see emojis.");
    return;
  }
  if (suggestAbort) suggestAbort.abort();
  suggestAbort = new AbortController();
  const seq = ++state.suggestSeq;
  setStatus("ask-status", "Thinking…");
  try {
    const body = { text, top_k: 8, style: state.style, explain: true };
    if (state.tone) body.skin_tone = state.tone;
    if (state.noFlags) body.exclude_groups = ["flags"];
    const res = await api("/api/suggest", { json: body, signal: suggestAbort.signal });
    if (seq !== state.suggestSeq) return;
    showError("ask-error", null);
    $("suggestions").replaceChildren(...res.results.map((e) => emojiCard(e, { extra: namedBy(e) })));
    const top = res.results[0];
    setStatus("ask-status", top
      ? `${res.results.length} emojis, best: ${top.name} (${res.elapsed_ms.toFixed(0)} ms)`
      : "No emojis.");
  } catch (err) {
    if (err.name === "AbortError" || seq !== state.suggestSeq) return;
    $("suggestions").replaceChildren();
    setStatus("ask-status", "");
    showError("ask-error", err);
  }
}

const liveSuggest = debounce(() => suggest({ live: true }), 250);

function updateCount() {
  const n = $("ask").value.length;
  const max = state.limits ? state.limits.max_text_chars : null;
  $("ask-count").textContent = max && n > max * 0.8 ? `${n.toLocaleString()} / ${max.toLocaleString()} characters` : "";
}

// ---- invent ------------------------------------------------------------------------------------
async function invent() {
  const text = $("ask").value;
  $("invented-box").hidden = false;
  $("invented-for").textContent = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  $("invented").replaceChildren();
  showError("invent-error", null);
  setStatus("invent-status", "Drawing new emojis…");
  $("invent-btn").disabled = true;
  try {
    const res = await api("/api/generate", { json: { text, n: 4, seed, style: state.style } });
    $("invented").replaceChildren(...res.results.map((r, i) => {
      const near = document.createElement("span");
      near.className = "near";
      near.textContent = `closest known: ${r.nearest.name}`;
      if (r.parents && r.parents.length === 2) { // drawn, not typed: no emoji font needed
        const from = document.createElement("span");
        from.className = "from";
        const pic = (p) => {
          const img = document.createElement("img");
          img.src = p.image; img.alt = p.emoji; img.title = p.name; img.width = img.height = 18;
          return img;
        };
        from.append("from ", pic(r.parents[0]), ` ${Math.round(r.weight * 100)}% + `, pic(r.parents[1]));
        from.title = `a blend of ${r.parents[0].name} and ${r.parents[1].name}`;
        near.append(document.createElement("br"), from);
      }
      const card = emojiCard({ emoji: r.nearest.emoji, name: `new emoji ${i + 1}`, image: r.image, score: r.score },
        { size: 96, extra: near });
      const btn = card.querySelector("button");
      btn.title = "Invented: there is no character to copy; copies the closest known emoji";
      return card;
    }));
    setStatus("invent-status", `${res.results.length} new emojis (seed ${res.seed}, ${(res.elapsed_ms / 1000).toFixed(1)} s)`);
  } catch (err) {
    setStatus("invent-status", "");
    showError("invent-error", err);
  } finally {
    $("invent-btn").disabled = false;
  }
}

// ---- latent explorer ---------------------------------------------------------------------------
function showFrames(frames, caption) {
  state.frames = frames;
  state.caption = caption;
  $("walk-view").hidden = false;
  const slider = $("walk-slider");
  slider.max = String(frames.length - 1);
  slider.value = "0";
  slider.disabled = frames.length < 2;
  $("frames").replaceChildren(...frames.map((f, i) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "frame";
    b.setAttribute("aria-label", `frame ${i + 1}, closest to ${f.nearest.name}`);
    b.appendChild(img(f.image, "", 48));
    b.addEventListener("click", () => { slider.value = String(i); showFrame(i); });
    li.appendChild(b);
    return li;
  }));
  showFrame(0);
}

function showFrame(i) {
  const f = state.frames[i];
  if (!f) return;
  $("walk-big").src = f.image;
  $("walk-big").alt = `frame ${i + 1} of ${state.frames.length}, closest to ${f.nearest.name}`;
  $("walk-caption").textContent = `${state.caption} · ${i + 1}/${state.frames.length} · closest: ${f.nearest.name}`;
  document.querySelectorAll("#frames .frame").forEach((b, j) => b.classList.toggle("on", j === i));
}

async function latent(kind) {
  showError("walk-error", null);
  setStatus("walk-status", "Decoding…");
  const a = $("walk-a").value.trim();
  const b = $("walk-b").value.trim();
  try {
    let res;
    let caption;
    if (kind === "walk") {
      const steps = parseInt($("walk-steps").value, 10) || 9;
      res = await api("/api/latent/interpolate", { json: { a, b, steps, style: state.style } });
      caption = `${a} → ${b}`;
    } else if (kind === "blend") {
      res = await api("/api/latent/blend", { json: { items: [a, b], style: state.style } });
      caption = `${a} + ${b}`;
    } else {
      res = await api("/api/latent/sample", { json: { n: 12, style: state.style, seed } });
      caption = "random";
    }
    showFrames(res.frames, caption);
    setStatus("walk-status", `${res.frames.length} frame${res.frames.length > 1 ? "s" : ""} in ${res.elapsed_ms.toFixed(0)} ms`);
  } catch (err) {
    setStatus("walk-status", "");
    showError("walk-error", err);
  }
}

const fillEmojiList = debounce(async (q) => {
  try {
    const res = await api(`/api/emojis?q=${encodeURIComponent(q)}&style=${state.style}&limit=12`);
    $("emoji-list").replaceChildren(...res.results.map((e) => {
      const o = document.createElement("option");
      o.value = e.emoji;
      o.label = e.name;
      return o;
    }));
  } catch { /* suggestions for the picker are a nicety */ }
}, 200);

function showGrid(kind) {
  document.querySelectorAll(".tabs [role=tab]").forEach((t) => {
    t.setAttribute("aria-selected", String(t.dataset.grid === kind));
    t.tabIndex = t.dataset.grid === kind ? 0 : -1;
  });
  const el = $("grid");
  showError("grid-error", null);
  el.alt = `Latent grid ${kind}`;
  el.onerror = async () => {
    try { await api(`/api/latent/grid/${kind}`); } catch (err) { showError("grid-error", err); }
  };
  el.src = `/api/latent/grid/${kind}`;
}

// ---- upload ------------------------------------------------------------------------------------
async function upload(file) {
  showError("upload-error", null);
  $("upload-result").hidden = true;
  if (!file) return;
  setStatus("upload-status", `Reading ${file.name}…`);
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("style", state.style);
  try {
    const res = await api("/api/score-image", { form });
    $("up-image").src = res.image;
    $("up-recon").src = res.reconstruction;
    $("up-texts").replaceChildren(...res.texts.slice(0, 8).map((t) => {
      const li = document.createElement("li");
      const q = document.createElement("span");
      q.className = "t";
      q.textContent = t.text;
      const num = document.createElement("span");
      num.className = "num";
      num.textContent = `${t.score.toFixed(2)} · #${t.rank.toLocaleString()} of ${t.of.toLocaleString()}`;
      li.append(q, scoreBar(t.score), num);
      return li;
    }));
    $("up-nearest").replaceChildren(...res.nearest.map((e) => emojiCard(e, { size: 48 })));
    $("up-similar").replaceChildren(...res.similar.map((e) => emojiCard(e, { size: 48 })));
    $("upload-result").hidden = false;
    setStatus("upload-status", `Best answer for “${res.texts[0].text}”.`);
  } catch (err) {
    setStatus("upload-status", "");
    showError("upload-error", err);
  }
}

// ---- wiring ------------------------------------------------------------------------------------
function init() {
  const ask = $("ask");
  ask.addEventListener("input", () => { updateCount(); liveSuggest(); });
  $("ask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    liveSuggest.cancel();  // an explicit request wins over a pending live one
    suggest();
  });
  $("invent-btn").addEventListener("click", invent);
  document.querySelectorAll(".examples .chip").forEach((c) => c.addEventListener("click", () => {
    liveSuggest.cancel();
    ask.value = c.textContent;
    updateCount();
    suggest();
    ask.focus();
  }));

  document.querySelectorAll("input[name=style]").forEach((r) => r.addEventListener("change", () => {
    state.style = r.value;
    document.body.dataset.style = r.value;
    if (ask.value.trim()) suggest();
    if (state.frames.length && $("walk-a").value && $("walk-b").value) latent("walk");
  }));
  $("skin-tone").addEventListener("change", (ev) => {
    state.tone = ev.target.value;
    if (ask.value.trim()) suggest();
  });
  $("no-flags").addEventListener("change", (ev) => {
    state.noFlags = ev.target.checked;
    if (ask.value.trim()) suggest();
  });

  $("walk-form").addEventListener("submit", (ev) => { ev.preventDefault(); latent("walk"); });
  $("blend-btn").addEventListener("click", () => latent("blend"));
  $("sample-btn").addEventListener("click", () => latent("sample"));
  $("walk-slider").addEventListener("input", (ev) => showFrame(parseInt(ev.target.value, 10)));
  ["walk-a", "walk-b"].forEach((id) => $(id).addEventListener("input", (ev) => fillEmojiList(ev.target.value)));

  const tabs = [...document.querySelectorAll(".tabs [role=tab]")];
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => showGrid(t.dataset.grid));
    t.addEventListener("keydown", (ev) => {
      const d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (!d) return;
      const next = tabs[(i + d + tabs.length) % tabs.length];
      next.focus();
      showGrid(next.dataset.grid);
    });
  });

  const drop = $("drop");
  $("file").addEventListener("change", (ev) => upload(ev.target.files[0]));
  ["dragenter", "dragover"].forEach((n) => drop.addEventListener(n, (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((n) => drop.addEventListener(n, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer && ev.dataTransfer.files[0];
    if (f) upload(f);
  });

  api("/api/health").then((h) => {
    state.limits = h.limits;
    $("version").textContent = h.version;
  }).catch((err) => showError("ask-error", err));
  showGrid("A");
  fillEmojiList("cat");
  setStatus("ask-status", "Type something to see emojis.");
}

document.addEventListener("DOMContentLoaded", init);
