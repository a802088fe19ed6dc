"use strict";
// The borrower's own page (7x24, mobile first): what is owed, relief, evidence and contact
// choices. Every rule lives in the APIs (which also refuse another account); this page only
// shows what they answer, in the words of BORROWER_STRINGS.

(() => {
  const { el, money, say, ApiError } = Arrears;
  const TOKEN = "arrears.token"; // the key arrears.js keeps the token under
  const LANG = "arrears.lang";
  const CHANNELS = ["call", "sms", "email", "app_push", "letter"];
  const CHANNEL = "web";
  let lang = "en";
  let account = null; // the accounts API's view of the signed-in borrower's account
  let evidence = []; // hashes uploaded in this visit, cited when a plan is requested
  let offered = null; // the plan whose disclosure is shown above the accept button

  const t = (key) => (BORROWER_STRINGS[lang] || BORROWER_STRINGS.en)[key] ?? key;
  const byId = (id) => document.getElementById(id);

  function translate() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    const sw = byId("lang");
    sw.textContent = t("switch");
    sw.lang = lang === "en" ? "zh-CN" : "en";
    for (const select of document.querySelectorAll("select.channels")) {
      const value = select.value;
      select.replaceChildren(...CHANNELS.map((c) => el("option", { value: c }, t(c))));
      if (value) select.value = value;
    }
  }

  // Writes need a method and a body; reads go through Arrears.get.
  async function send(service, path, method, body, contentType, params) {
    const cfg = await Arrears.loadConfig();
    const u = new URL(cfg.api[service] + path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
    const json = contentType === undefined;
    const r = await fetch(u, {
      method,
      headers: {
        Authorization: `Bearer ${sessionStorage.getItem(TOKEN)}`,
        Accept: "application/json",
        "Content-Type": json ? "application/json" : contentType,
      },
      body: json ? JSON.stringify(body) : body,
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, answer.title || r.statusText, answer.detail || "");
    return answer;
  }

  const path = (rest) => `/v1/accounts/${encodeURIComponent(account.account_id)}${rest}`;

  function accountId() {
    const asked = new URLSearchParams(window.location.search).get("account");
    if (asked) return asked;
    const claims = Arrears.claims();
    return claims && claims.accounts && claims.accounts.length ? claims.accounts[0] : null;
  }

  function renderOwed() {
    byId("total").textContent = money(account.outstanding);
    byId("dpd").textContent = String(account.days_past_due);
    byId("components").tBodies[0].replaceChildren(
      ...Object.entries(account.balances).map(([component, fen]) =>
        el("tr", { dataset: { component } }, el("td", {}, t(component)),
          el("td", { class: "money" }, money(fen))),
      ),
    );
    byId("bills").tBodies[0].replaceChildren(
      ...account.bills.map((b) =>
        el("tr", { dataset: { bill: b.bill_id } }, el("td", {}, b.bill_id), el("td", {}, b.due_date),
          el("td", { class: "money" }, money(b.amount)),
          el("td", { class: "money" }, money(b.outstanding))),
      ),
    );
    byId("dispute-bill").replaceChildren(
      ...account.bills.map((b) => el("option", { value: b.bill_id }, b.bill_id)),
    );
  }

  async function renderPlans() {
    const { plans } = await Arrears.get("plans", path("/plans"));
    byId("plans").replaceChildren(
      ...plans.map((p) =>
        el("li", { id: `plan-${p.plan_id}`, dataset: { state: p.state } },
          `${t(p.plan_type)} · ${t("state")}: `, el("strong", {}, t(p.state))),
      ),
    );
  }

  function term(label, value) {
    return [el("dt", {}, t(label)), el("dd", {}, value)];
  }

  async function renderOptions() {
    const quote = await send("plans", path("/plans/quote"), "POST", {});
    const box = byId("options");
    const options = quote.options.map((o) =>
      el("div", { class: "option", dataset: { option: o.option_id } },
        el("h3", {}, t(o.plan_type)),
        el("dl", {},
          ...term("months", String(o.terms.months || o.terms.deferral_months)),
          ...term("fees", money(o.terms.fees)),
          ...term("total-repayable", money(o.terms.total_repayable)),
          ...term("largest-installment", money(o.largest_installment))),
        el("button", { type: "button", onclick: () => requestPlan(o) }, t("request"))),
    );
    const refusals = quote.refusals.map((r) =>
      el("p", { class: "refusal" }, `${t(r.plan_type)}: ${t("refused")} — ${r.reason}`),
    );
    box.replaceChildren(...(options.length ? options : [el("p", {}, t("relief-none"))]), ...refusals);
  }

  async function requestPlan(option) {
    try {
      const plan = await send("plans", path("/plans"), "POST", {
        plan_type: option.plan_type,
        channel: CHANNEL,
        option: { option_id: option.option_id, evidence },
      });
      showOffer(plan);
      await renderPlans();
    } catch (err) {
      say(err.message);
    }
  }

  // The disclosure is shown whole, above the button, before anything can be accepted.
  function showOffer(plan) {
    offered = plan;
    const ready = plan.state === "offered" && plan.offer;
    byId("offer").hidden = !ready;
    byId("disclosure").textContent = ready ? plan.offer.disclosure : "";
    if (ready) byId("disclosure").focus();
  }

  async function accept() {
    try {
      await send("plans", path(`/plans/${encodeURIComponent(offered.plan_id)}/accept`), "POST", {
        channel: CHANNEL,
        disclosure_sha256: offered.offer.disclosure_sha256,
      });
      byId("offer").hidden = true;
      say(t("recorded"), "ok");
      await renderPlans();
    } catch (err) {
      say(err.message);
    }
  }

  async function upload(event) {
    event.preventDefault();
    const file = byId("evidence-file").files[0];
    if (!file) return;
    try {
      const doc = await send("plans", path("/evidence"), "POST", file, file.type, {
        kind: byId("evidence-kind").value,
      });
      evidence = [...new Set([...evidence, doc.sha256])];
      byId("evidence").append(
        el("li", { dataset: { sha256: doc.sha256 } }, `${t("uploaded")}: ${file.name}`),
      );
      say(t("recorded"), "ok");
    } catch (err) {
      say(err.message);
    }
  }

  // The callback slot as the account's own wall clock: its offset comes from the account's
  // time zone, not the phone's.
  function zoned(local) {
    const guess = new Date(`${local}:00Z`);
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-US", {
        timeZone: account.time_zone, hourCycle: "h23", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit",
      }).formatToParts(guess).map((p) => [p.type, p.value]),
    );
    const shown = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
    const minutes = Math.round((shown - guess.getTime()) / 60000);
    const sign = minutes < 0 ? "-" : "+";
    const hh = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0");
    const mm = String(Math.abs(minutes) % 60).padStart(2, "0");
    return `${local}:00${sign}${hh}:${mm}`;
  }

  function contactForm(id, method, route, body) {
    byId(id).addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await send("contact", path(`/self-service/${route}`), method, body());
        say(t("recorded"), "ok");
      } catch (err) {
        say(err.message);
      }
    });
  }

  function refuse() {
    account = null;
    byId("account").hidden = true;
    say(t("refused-account"));
  }

  async function load() {
    const id = accountId();
    if (!id) {
      say(t("no-account"));
      return;
    }
    try {
      account = await Arrears.get("accounts", `/v1/accounts/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && [401, 403, 404].includes(err.status)) refuse();
      else say(err.message);
      return;
    }
    lang = localStorage.getItem(LANG) || (account.time_zone === "Asia/Shanghai" ? "zh-CN" : "en");
    translate();
    renderOwed();
    byId("account").hidden = false;
    say("");
    try {
      await Promise.all([renderPlans(), renderOptions()]);
    } catch (err) {
      say(err.message);
    }
  }

  function signedIn() {
    const token = sessionStorage.getItem(TOKEN);
    byId("sign-in").hidden = Boolean(token);
    byId("sign-out").hidden = !token;
    const claims = token ? Arrears.claims() : null;
    byId("who").textContent = claims ? claims.sub : "";
    if (token) load();
    else byId("account").hidden = true;
  }

  async function start() {
    const cfg = await Arrears.loadConfig();
    translate();
    byId("lang").addEventListener("click", () => {
      lang = lang === "en" ? "zh-CN" : "en";
      localStorage.setItem(LANG, lang);
      translate();
      if (account) renderOwed();
      if (account) renderPlans().catch((err) => say(err.message));
      if (account) renderOptions().catch((err) => say(err.message));
    });
    byId("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN, byId("token").value.trim());
      signedIn();
    });
    const dev = byId("dev-form");
    if (cfg.auth_mode === "development") {
      dev.hidden = false;
      dev.addEventListener("submit", async (event) => {
        event.preventDefault();
        const id = byId("dev-account").value.trim();
        const r = await fetch("dev-token", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ role: "borrower", subject: `borrower-${id}`, accounts: [id] }),
        });
        const body = await r.json().catch(() => ({}));
        if (!r.ok) {
          say(body.detail || r.statusText);
          return;
        }
        sessionStorage.setItem(TOKEN, body.token);
        signedIn();
      });
    } else {
      dev.remove();
    }
    byId("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN);
      account = null;
      signedIn();
    });
    byId("evidence-form").addEventListener("submit", upload);
    byId("accept").addEventListener("click", accept);
    contactForm("preferences-form", "PUT", "preferences", () => ({
      preferred_channels: [byId("preferred").value],
    }));
    contactForm("opt-out-form", "POST", "opt-out", () => ({ channel: byId("opt-out-channel").value }));
    contactForm("dispute-form", "POST", "dispute", () => ({
      debt_id: byId("dispute-bill").value,
      reason: byId("dispute-reason").value,
    }));
    contactForm("callback-form", "POST", "callback", () => ({
      slot_start: zoned(byId("callback-at").value),
    }));
    signedIn();
  }

  document.addEventListener("DOMContentLoaded", () => start().catch((err) => say(err.message)));
})();
