"use strict";
// What every arrears page shares: the server's config, sign-in, and one API client.
// The token lives in sessionStorage (gone when the tab closes) and travels only as an
// Authorization header; nothing is built with innerHTML, so no API value becomes markup.

const Arrears = (() => {
  const TOKEN = "arrears.token";
  let config = null;

  class ApiError extends Error {
    constructor(status, title, detail) {
      super(`${title} (${status})${detail ? ": " + detail : ""}`);
      this.status = status;
      this.detail = detail;
    }
  }

  async function loadConfig() {
    if (config === null) {
      const r = await fetch("config.json", { headers: { Accept: "application/json" } });
      if (!r.ok) throw new ApiError(r.status, "the page's config is unavailable", "");
      config = await r.json();
    }
    return config;
  }

  const token = () => sessionStorage.getItem(TOKEN);
  const setToken = (value) => sessionStorage.setItem(TOKEN, value.trim());
  const signOut = () => sessionStorage.removeItem(TOKEN);

  // For showing who is signed in only; the services verify the token, never this page.
  function claims() {
    const part = (token() || "").split(".")[1];
    if (!part) return null;
    try {
      const bytes = Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) =>
        c.charCodeAt(0),
      );
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
  }

  function url(service, path, params) {
    const base = config.api[service];
    if (base === undefined) throw new Error(`this page knows no ${service} API`);
    const u = new URL(base + path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value === null || value === undefined || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) u.searchParams.append(key, v);
    }
    return u;
  }

  async function request(service, path, params, body) {
    const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
    const init = { headers };
    if (body !== undefined) {
      init.method = "POST";
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(url(service, path, params), init);
    if (!r.ok) {
      let body = {};
      try {
        body = await r.json();
      } catch {
        // Not a problem+json answer: the status says enough.
      }
      throw new ApiError(r.status, body.title || r.statusText, body.detail || "");
    }
    return r;
  }

  const get = async (service, path, params) => (await request(service, path, params)).json();
  const post = async (service, path, body) =>
    (await request(service, path, null, body || {})).json();

  // Downloads need the Authorization header, so they are fetched, then saved from a blob.
  async function download(service, path, params, fallbackName) {
    const r = await request(service, path, params);
    const disposition = r.headers.get("content-disposition") || "";
    const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
    const name = star ? decodeURIComponent(star[1]) : fallbackName;
    const link = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
    document.body.append(link);
    link.click();
    setTimeout(() => {
      URL.revokeObjectURL(link.href);
      link.remove();
    }, 1000);
    return name;
  }

  async function devToken(role, subject) {
    const r = await fetch("dev-token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ role, subject }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, "no development token", body.detail || "");
    return body.token;
  }

  // An element with attributes and children (strings become text, never markup).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  // Fen as yuan, "¥1,234.56": integer arithmetic only, no float rounding.
  function money(fen) {
    if (fen === null || fen === undefined) return "—";
    const sign = fen < 0 ? "-" : "";
    const abs = Math.abs(fen);
    const yuan = Math.floor(abs / 100).toLocaleString("en-US");
    return `${sign}¥${yuan}.${String(abs % 100).padStart(2, "0")}`;
  }

  function say(text, kind) {
    const box = document.getElementById("message");
    box.className = kind || "";
    box.textContent = text;
  }

  // The sign-in section and the header: a pasted token, or in development a picked role.
  async function signIn({ onSignedIn, onSignedOut }) {
    const cfg = await loadConfig();
    const section = document.getElementById("sign-in");
    const who = document.getElementById("who");
    const out = document.getElementById("sign-out");
    const devForm = document.getElementById("dev-form");

    function show() {
      const c = token() ? claims() : null;
      section.hidden = Boolean(token());
      out.hidden = !token();
      who.textContent = c ? `signed in as ${c.sub} (${c.role})` : "not signed in";
      if (token()) onSignedIn(c);
      else onSignedOut();
    }

    document.getElementById("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(document.getElementById("token").value);
      say("");
      show();
    });
    if (cfg.dev_roles.length) {
      const select = document.getElementById("dev-role");
      for (const role of cfg.dev_roles) select.append(el("option", { value: role }, role));
      select.value = cfg.dev_roles.includes("compliance") ? "compliance" : cfg.dev_roles[0];
      devForm.hidden = false;
      devForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const subject = document.getElementById("dev-subject").value;
          setToken(await devToken(select.value, subject));
          say("");
          show();
        } catch (err) {
          say(err.message);
        }
      });
    } else {
      devForm.remove();
    }
    out.addEventListener("click", () => {
      signOut();
      show();
    });
    show();
  }

  return { ApiError, claims, download, el, get, loadConfig, money, post, say, signIn };
})();
