"use strict";
// The compliance console: one account's state, story, chart and chain, as of a chosen
// point on either time axis. Every read goes to the audit API with the stated purpose
// (the access log records it); the page computes no business rule, it only shows.

(() => {
  const { el, get, money, say, ApiError } = Arrears;
  const $ = (id) => document.getElementById(id);
  const HISTORY_PAGE = 1000;
  const view = { account: null, lines: [], entries: new Map(), chart: null };

  const purpose = () => $("purpose").value.trim();
  const asOf = () => ({
    as_of_occurred: $("as-of-occurred").value.trim() || null,
    as_of_recorded: $("as-of-recorded").value.trim() || null,
  });
  const shortHash = (h) => (h || "").slice(0, 12);
  // An instant as the API gives it, to the second, with its offset ("UTC" for +00:00).
  const when = (iso) => {
    const offset = iso.slice(19).replace(/^\.\d+/, "");
    return `${iso.slice(0, 19).replace("T", " ")} ${offset === "+00:00" ? "UTC" : offset}`;
  };
  const path = (suffix) => `/v1/accounts/${encodeURIComponent(view.account)}${suffix}`;
  const read = (suffix, params) => get("audit", path(suffix), { purpose: purpose(), ...params });

  async function wholeHistory(cut) {
    const entries = [];
    let after = 0;
    for (;;) {
      const page = await read("/history", { ...cut, after_seq: after, limit: HISTORY_PAGE });
      entries.push(...page.entries);
      if (page.next_after_seq === null) return entries;
      after = page.next_after_seq;
    }
  }

  async function openAccount() {
    const cut = asOf();
    // The state takes one point in time (its 7-day contact window needs one): the
    // recorded axis when both are given, as the note says.
    const stateCut = cut.as_of_recorded
      ? { as_of_recorded: cut.as_of_recorded }
      : { as_of_occurred: cut.as_of_occurred };
    $("asof-note").textContent =
      cut.as_of_recorded && cut.as_of_occurred
        ? "The story, timeline and chart are cut on both axes; the state is as of recorded."
        : "";
    const [state, story, history, series, verify] = await Promise.all([
      read("/state", stateCut),
      read("/story", { ...cut, limit: 1000 }),
      wholeHistory(cut),
      read("/series", cut),
      read("/verify", {}),
    ]);
    view.lines = story.lines;
    view.entries = new Map(history.map((e) => [e.seq, e]));
    $("account-title").textContent = `Account ${view.account}`;
    // Shown first, so the chart is drawn at the width it has on the page.
    $("account-view").hidden = false;
    renderState(state);
    renderBadge(verify);
    renderFilters();
    renderTimeline();
    renderChart(series);
  }

  function fact(term, value, id) {
    return [el("dt", {}, term), el("dd", { id }, value === null || value === undefined ? "—" : String(value))];
  }

  function renderState(s) {
    const b = s.balances || {};
    const plan = s.active_plan;
    const facts = [
      ...fact("Balance owed", money(s.outstanding), "outstanding"),
      ...fact("of which principal", money(b.principal)),
      ...fact("interest", money(b.interest)),
      ...fact("fees", money(b.fees)),
      ...fact("late fees", money(b.late_fee), "late-fee"),
      ...fact("Days past due", s.days_past_due, "days-past-due"),
      ...fact("Bucket", s.bucket),
      ...fact("Active plan", plan ? `${plan.plan_type} since ${plan.since} (seq ${plan.seq})` : "none"),
      ...fact("Case", s.case ? `${s.case.status} since ${s.case.since}` : "none"),
      ...fact(
        "Contact, trailing 7 days",
        `${s.contact.attempts_7d} made, ${s.contact.blocked_7d} blocked`,
      ),
      ...fact("As of", `${s.axis === "now" ? "now" : s.axis} ${s.as_of}`, "state-as-of"),
      ...fact("Through", s.through ? `seq ${s.through.seq} · ${shortHash(s.through.hash)}` : "—"),
    ];
    $("state-facts").replaceChildren(...facts);
    for (const note of s.notes) $("state-facts").append(...fact("Note", note));
  }

  function renderBadge(v) {
    const badge = $("badge");
    badge.className = `badge ${v.status}`;
    badge.dataset.status = v.status;
    const chain =
      v.status === "verified"
        ? "Chain verified"
        : v.status === "broken"
          ? `Chain BROKEN — ${v.reason}`
          : `Chain incomplete — ${v.reason}`;
    const cp = v.checkpoint;
    const checkpoint = cp
      ? `signed checkpoint ${cp.at} covers seq ${cp.head.seq} (root ${shortHash(cp.root)}` +
        `${cp.signed ? ", signature valid" : ", SIGNATURE INVALID"})`
      : "no signed checkpoint covers this account yet";
    badge.textContent = `${chain} · ${checkpoint}`;
  }

  function sourceOf(line) {
    const entry = view.entries.get(line.seq);
    return entry ? entry.source : "";
  }

  function refill(select, values) {
    const keep = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"), ...values.map((v) => el("option", { value: v }, v)));
    select.value = values.includes(keep) ? keep : "";
  }

  function renderFilters() {
    refill($("filter-source"), [...new Set(view.lines.map(sourceOf))].filter(Boolean).sort());
    refill($("filter-type"), [...new Set(view.lines.map((l) => l.type))].sort());
  }

  function renderTimeline() {
    const source = $("filter-source").value;
    const type = $("filter-type").value;
    let lines = view.lines.filter(
      (l) => (!source || sourceOf(l) === source) && (!type || l.type === type),
    );
    if ($("order").value === "desc") lines = [...lines].reverse();
    const items = lines.map((l) =>
      el(
        "li",
        { dataset: { seq: l.seq } },
        el("span", { class: "seq" }, `seq ${l.seq}`),
        el("time", { datetime: l.occurred_at }, when(l.occurred_at)),
        el("span", { class: "source" }, sourceOf(l)),
        el("code", { class: "hash", title: `hash ${l.hash}` }, shortHash(l.hash)),
        el("span", { class: "text" }, l.text),
        el("a", { href: `#event-${l.seq}`, onclick: (e) => showRaw(e, l.seq) }, "raw event"),
      ),
    );
    $("timeline-list").replaceChildren(...items);
    if (!items.length) $("timeline-list").append(el("li", {}, "No events."));
  }

  function showRaw(event, seq) {
    event.preventDefault();
    const entry = view.entries.get(seq);
    $("raw-title").textContent = `Raw event, seq ${seq}`;
    $("raw-json").textContent = entry
      ? JSON.stringify(entry, null, 2)
      : "This event is outside the history read as of the chosen point.";
    $("raw").hidden = false;
    $("raw-json").focus();
  }

  const seconds = (iso) => Date.parse(iso) / 1000;

  // Plan periods shaded behind the lines, contacts marked along the bottom.
  function overlay(series) {
    return (u) => {
      const { ctx } = u;
      const { left, top, width, height } = u.bbox;
      const xMax = u.scales.x.max;
      ctx.save();
      ctx.fillStyle = "rgba(26, 107, 50, 0.15)";
      for (const p of series.plans) {
        const from = u.valToPos(seconds(p.from), "x", true);
        const to = u.valToPos(p.to ? seconds(p.to) : xMax, "x", true);
        const x0 = Math.max(left, from);
        const x1 = Math.min(left + width, to);
        if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
      }
      const r = 6 * devicePixelRatio;
      for (const c of series.contacts) {
        const x = u.valToPos(seconds(c.at), "x", true);
        if (x < left || x > left + width) continue;
        const y = top + height - r - 2;
        ctx.beginPath();
        if (c.decision === "allowed") {
          ctx.fillStyle = "#1a6b32";
          ctx.arc(x, y, r, 0, 2 * Math.PI);
          ctx.fill();
        } else {
          ctx.strokeStyle = "#b3261e";
          ctx.lineWidth = 3 * devicePixelRatio;
          ctx.moveTo(x - r, y - r);
          ctx.lineTo(x + r, y + r);
          ctx.moveTo(x + r, y - r);
          ctx.lineTo(x - r, y + r);
          ctx.stroke();
        }
      }
      ctx.restore();
    };
  }

  function renderChart(series) {
    const box = $("chart");
    if (view.chart) view.chart.destroy();
    view.chart = null;
    box.replaceChildren();
    const points = series.points;
    box.dataset.points = String(points.length);
    box.dataset.plans = String(series.plans.length);
    box.dataset.contacts = String(series.contacts.length);
    box.setAttribute(
      "aria-label",
      `Chart of ${points.length} points: balance owed, late fees and days past due; ` +
        `${series.plans.length} plan periods, ${series.contacts.length} contact attempts.`,
    );
    const rows = points.map((p) =>
      el(
        "tr",
        {},
        el("td", {}, String(p.seq)),
        el("td", {}, p.at),
        el("td", {}, p.type),
        el("td", {}, money(p.outstanding)),
        el("td", {}, money(p.late_fee)),
        el("td", {}, p.days_past_due === null ? "—" : String(p.days_past_due)),
      ),
    );
    $("chart-table").tBodies[0].replaceChildren(...rows);
    if (!points.length) {
      box.append(el("p", {}, "No event has moved the balance yet."));
      return;
    }
    const data = [
      points.map((p) => seconds(p.at)),
      points.map((p) => p.outstanding / 100),
      points.map((p) => p.late_fee / 100),
      points.map((p) => p.days_past_due),
    ];
    const times = [...data[0], ...series.contacts.map((c) => seconds(c.at))];
    const opts = {
      width: Math.max(320, box.clientWidth || 800),
      height: 300,
      scales: {
        x: { time: true, range: () => [Math.min(...times) - 3600, Math.max(...times) + 3600] },
        days: { auto: true },
      },
      series: [
        {},
        { label: "owed ¥", stroke: "#0b5cad", width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        { label: "late fees ¥", stroke: "#8a3ffc", width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        {
          label: "days past due",
          stroke: "#b35c00",
          width: 2,
          scale: "days",
          dash: [6, 4],
          paths: uPlot.paths.stepped({ align: 1 }),
        },
      ],
      axes: [{}, { label: "¥" }, { side: 1, scale: "days", label: "days past due", grid: { show: false } }],
      legend: { show: false },
      hooks: { drawClear: [overlay(series)] },
    };
    view.chart = new uPlot(opts, data, box);
  }

  async function show() {
    say("");
    try {
      await openAccount();
    } catch (err) {
      $("account-view").hidden = true;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        say(`Refused: ${err.message}. Your token does not give you the audit trail.`);
      } else {
        say(err.message);
      }
    }
  }

  async function downloadOf(button, suffix, ext) {
    button.disabled = true;
    try {
      const name = await Arrears.download("audit", path(suffix), { purpose: purpose() }, `${view.account}.${ext}`);
      say(`Downloaded ${name}.`, "info");
    } catch (err) {
      say(err.message);
    } finally {
      button.disabled = false;
    }
  }

  function wire() {
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      view.account = $("account").value.trim();
      sessionStorage.setItem("arrears.purpose", purpose());
      show().then(() => $("account-title").focus());
    });
    $("asof-form").addEventListener("submit", (e) => {
      e.preventDefault();
      if (view.account) show();
    });
    $("as-of-clear").addEventListener("click", () => {
      $("as-of-occurred").value = "";
      $("as-of-recorded").value = "";
      if (view.account) show();
    });
    for (const id of ["order", "filter-source", "filter-type"]) $(id).addEventListener("change", renderTimeline);
    $("raw-close").addEventListener("click", () => {
      $("raw").hidden = true;
    });
    $("download-bundle").addEventListener("click", (e) => downloadOf(e.currentTarget, "/bundle", "json"));
    $("download-csv").addEventListener("click", (e) => downloadOf(e.currentTarget, "/export.csv", "csv"));
    $("download-pdf").addEventListener("click", (e) => downloadOf(e.currentTarget, "/report.pdf", "pdf"));
    $("purpose").value = sessionStorage.getItem("arrears.purpose") || "";
  }

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    try {
      await Arrears.signIn({
        onSignedIn: () => {
          $("workspace").hidden = false;
        },
        onSignedOut: () => {
          $("workspace").hidden = true;
          $("account-view").hidden = true;
        },
      });
    } catch (err) {
      say(err.message);
    }
  });
})();
