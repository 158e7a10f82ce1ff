// What the people's pages share, written into each page where it says `inclure: commun.js`
// (services/bus/pages.py): the token, the API, refusals in French next to their field, one
// request per click, numbers and amounts in French, and SVG bar charts. Everything is under V.
const V = (() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const number = (v, digits = 0) => new Intl.NumberFormat("fr-FR", {maximumFractionDigits: digits}).format(v);
  const euros = (cents) => new Intl.NumberFormat("fr-FR", {style: "currency", currency: "EUR"}).format(cents / 100);
  const UNITS = {GRAM: [1000, "kg"], MILLILITRE: [1000, "L"], PIECE: [1, "pièce(s)"]};
  // A quantity in the product's base unit said in the unit people use (grams as kg).
  function quantity(value, unit) {
    const [per, word] = UNITS[unit] || [1, ""];
    const v = value / per;
    return `${number(v, Math.abs(v) >= 100 ? 0 : 2)} ${word}`.trim();
  }
  // What a person types ("2,5" kg) in the product's base unit (2500 g); NaN when unreadable.
  function baseUnits(text, unit) {
    const v = Number(String(text).trim().replace(/\s/g, "").replace(",", "."));
    if (!String(text).trim() || !Number.isFinite(v)) return NaN;
    return Math.round(v * (UNITS[unit] || [1])[0]);
  }
  const unitWord = (unit) => (UNITS[unit] || [1, ""])[1];
  const day = (iso) => new Date(`${iso}T12:00:00Z`).toLocaleDateString("fr-FR", {weekday: "short", day: "numeric", month: "short", timeZone: "UTC"});
  const today = () => new Date().toLocaleDateString("sv-SE", {timeZone: "Europe/Paris"});
  const dayAfter = (iso, n) => new Date(Date.parse(`${iso}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);

  // ---- the token: from the link's fragment (#token=...), kept for the tab only ----
  const session = {token: "", params: new URLSearchParams()};
  function start(storageKey) {
    const fragment = new URLSearchParams(location.hash.slice(1));
    if (fragment.has("token")) sessionStorage.setItem(storageKey, fragment.get("token"));
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    session.params = fragment;
    session.token = sessionStorage.getItem(storageKey) || "";
    session.key = storageKey;
    return session.token;
  }
  function setToken(token) { session.token = token.trim(); sessionStorage.setItem(session.key, session.token); }
  function forgetToken() { session.token = ""; sessionStorage.removeItem(session.key); }

  // ---- the API ----
  class Offline extends Error {}
  async function api(method, path, body) {
    let answer;
    try {
      answer = await fetch(new URL(path, location.href), {
        method, cache: "no-store",
        headers: {Authorization: `Bearer ${session.token}`, ...(body ? {"Content-Type": "application/json"} : {})},
        body: body ? JSON.stringify(body) : undefined});
    } catch (err) { throw new Offline(); }
    let data = null;
    try { data = await answer.json(); } catch (err) { /* an empty or non-JSON answer */ }
    return {status: answer.status, ok: answer.ok, data};
  }
  function explain(status) {
    if (status === 401) return "Jeton refusé : il est inconnu, révoqué ou mal copié. Vérifiez-le.";
    if (status === 403) return "Ce jeton ne permet pas de faire cela.";
    if (status === 404) return "Introuvable : cette entrée n'existe pas, ou pas pour vous.";
    if (status === 409) return "Refusé : cela contredit ce qui est déjà enregistré.";
    if (status === 503 || status === 504) return "Le service ne répond pas pour l'instant : réessayez dans un instant, rien n'est compté deux fois.";
    return `Le serveur a répondu une erreur (${status}).`;
  }
  const OFFLINE = "Pas de réponse du serveur : vérifiez la connexion, puis réessayez. Ce que vous avez saisi est gardé.";

  // A problem of a field as a short French sentence: the API's own (`fr`), else FastAPI's
  // validation types said in French.
  function sentence(item) {
    if (item.fr) return item.fr;
    const ctx = item.ctx || {};
    // The bound from `ctx`, else from pydantic's message ("... greater than 0"): the gateway's
    // 422 answers carry loc, msg and type only.
    const bound = (key) => {
      if (ctx[key] !== undefined) return Number(ctx[key]);
      const found = /(-?\d+(?:\.\d+)?)\s*$/.exec(item.msg || "");
      return found ? Number(found[1]) : undefined;
    };
    const gt = bound("gt"), ge = bound("ge");
    switch (item.type) {
      case "missing": case "string_too_short": return "Ce champ est obligatoire.";
      case "too_short": return "Indiquez-en au moins un.";
      case "string_too_long": return ctx.max_length ? `C'est trop long : ${ctx.max_length} caractères au plus.` : "C'est trop long.";
      case "greater_than": return gt === 0 || gt === undefined ? "Indiquez une quantité plus grande que zéro." : `Indiquez plus de ${gt}.`;
      case "greater_than_equal": return ge === 0 || ge === undefined ? "Une quantité ne peut pas être négative." : `Indiquez au moins ${ge}.`;
      case "less_than_equal": case "less_than": return "C'est plus que ce qui est permis.";
      case "int_parsing": case "int_type": case "float_parsing": return "Écrivez un nombre.";
      case "date_from_datetime_parsing": case "date_parsing": case "date_type": return "Écrivez une date, par exemple 2026-12-04.";
      case "string_pattern_mismatch": return "Lettres minuscules sans accent, chiffres et tirets seulement.";
      case "literal_error": case "enum": return "Choisissez une des valeurs proposées.";
      default: return item.msg && /unknown product/.test(item.msg) ? "Ce produit n'est pas au catalogue." : "Cette valeur n'est pas valable.";
    }
  }
  function refusal(answer) {
    const detail = answer.data && answer.data.detail;
    if (Array.isArray(detail)) return detail;
    return [{type: "http", fr: explain(answer.status)}];
  }

  // ---- forms: each field in a `[data-champ=name]` box with a `.erreur-champ`; the form has a
  // `.erreur` (problems without a field) and an `.annonce` (what was done) ----
  function clear(form) {
    form.querySelectorAll(".erreur-champ, .erreur, .annonce").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  }
  // Each problem next to its field (the first one focused); one without a field, under the form.
  function showProblems(form, items) {
    clear(form);
    let first = null;
    const general = [];
    for (const item of items) {
      const name = item.name ?? (item.loc && item.loc[0] === "body" ? item.loc[item.loc.length - 1] : null);
      const box = name && form.querySelector(`[data-champ="${name}"]`);
      const text = sentence(item);
      if (!box) { general.push(text); continue; }
      const error = box.querySelector(".erreur-champ");
      if (!error.textContent.includes(text)) error.textContent = `${error.textContent} ${text}`.trim();
      const control = box.querySelector("input, select, textarea");
      if (control) control.setAttribute("aria-invalid", "true");
      first = first || control;
    }
    const where = form.querySelector(".erreur");
    where.textContent = general.join(" ");
    (first || form.querySelector("button[type=submit]")).focus();
  }
  function announce(form, text) { clear(form); form.querySelector(".annonce").textContent = text; }
  // A field's problem is forgotten as soon as it is changed.
  document.addEventListener("input", (event) => {
    const box = event.target.closest && event.target.closest("[data-champ]");
    if (!box) return;
    box.querySelectorAll(".erreur-champ").forEach((p) => { p.textContent = ""; });
    box.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  });

  // One request at a time per button: disabled (and busy) until the answer is in, and for half
  // a second at least, so the second click of a double click on a fast answer finds it disabled.
  async function once(button, work) {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const started = Date.now();
    try { await work(); } finally {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 500 - (Date.now() - started))));
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
  // The request id a form sends: the same until it is accepted (a retry after a lost answer is
  // then applied once by the API), a new one for the next entry.
  function requestId(form, prefix) {
    if (!form.dataset.requestId) form.dataset.requestId = `${prefix}-${crypto.randomUUID().slice(0, 18)}`;
    return form.dataset.requestId;
  }
  function accepted(form) { delete form.dataset.requestId; }
  // Send a form's body: problems next to their fields, values kept; `done(answer)` on success.
  async function send(form, method, path, body, done) {
    let answer;
    try { answer = await api(method, path, body); } catch (err) { showProblems(form, [{fr: OFFLINE}]); return null; }
    if (!answer.ok) { showProblems(form, refusal(answer)); return null; }
    accepted(form);
    await done(answer);
    return answer;
  }

  // ---- charts: horizontal bars, each row stacked from its parts, drawn as SVG ----
  // rows: [{label, parts: [{value, cls, title}], note}]; format(value) says a value in words
  // (a row's total, unless the row says its own `note`, e.g. a share in per cent).
  function bars(rows, {title, format = number, width = 640}) {
    const rowH = 26, labelW = Math.min(200, width * 0.38), valueW = 90;
    const max = Math.max(1, ...rows.map((r) => r.parts.reduce((s, p) => s + Math.max(0, p.value), 0)));
    const plot = width - labelW - valueW - 8;
    const body = rows.map((r, i) => {
      let x = labelW;
      const y = i * rowH + 4, total = r.parts.reduce((s, p) => s + Math.max(0, p.value), 0);
      const rects = r.parts.map((p) => {
        const w = (Math.max(0, p.value) / max) * plot;
        const rect = `<rect class="${esc(p.cls || "barre")}" x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 8}"><title>${esc(p.title || format(p.value))}</title></rect>`;
        x += w;
        return rect;
      }).join("");
      return `<g class="ligne-graphe"><text x="${labelW - 6}" y="${y + rowH / 2}" text-anchor="end">${esc(r.label)}</text>${rects}` +
        `<text class="valeur" x="${(x + 6).toFixed(1)}" y="${y + rowH / 2}">${esc(r.note ?? format(total))}</text></g>`;
    }).join("");
    const height = rows.length * rowH + 8;
    return `<svg class="graphe" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${body}</svg>`;
  }

  return {$, esc, number, euros, quantity, baseUnits, unitWord, day, today, dayAfter, start, setToken,
    forgetToken, session, api, Offline, explain, OFFLINE, sentence, refusal, clear, showProblems,
    announce, once, requestId, accepted, send, bars};
})();
