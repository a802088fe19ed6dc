"use strict";
// The agent workbench: queues, next case, the case, the pre-call check, recording an
// attempt, offering a quoted plan and a supervisor's approvals. The APIs decide what each
// role may see (masked contact points, refusals); this page shows what it gets.

(() => {
  const { el, get, post, money, say } = Arrears;
  const $ = (id) => document.getElementById(id);
  let account = null;
  let checked = null; // the last allowed check, which a recorded attempt refers to

  const fill = (id, items) => $(id).replaceChildren(...items);
  const refuse = (err) => say(err.message);

  async function loadQueues() {
    try {
      const overview = await get("contact", "/v1/queues");
      const rows = Object.entries(overview.queues).map(([name, load]) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, name),
          el("td", {}, `${load.open} open, ${load.unassigned} free, ${load.ready} ready`),
        ),
      );
      fill("queue-rows", rows);
      $("queue-table").hidden = false;
      $("queues-note").textContent = "";
    } catch (err) {
      $("queue-table").hidden = true;
      $("queues-note").textContent =
        err.status === 403 ? "Queue load is shown to supervisors." : err.message;
    }
  }

  function historyLine(a) {
    const promise = a.promise_amount ? ` · promised ${money(a.promise_amount)}` : "";
    return el("li", {}, `${a.at || ""} ${a.channel || ""}: ${a.outcome || ""}${promise}`);
  }

  async function openCase(accountId) {
    say("");
    $("case").hidden = true;
    $("plans").hidden = true;
    account = accountId;
    $("options").replaceChildren();
    fill("inbox", []);
    const c = await get("contact", `/v1/accounts/${encodeURIComponent(accountId)}/case`);
    checked = null;
    $("record-form").hidden = true;
    $("decision").hidden = true;
    const pairs = [
      ["Account", c.account_id],
      ["Case", c.case_id],
      ["Queue", c.queue],
      ["Bucket", c.bucket],
      ["Days past due", c.days_past_due],
      ["Assigned to", c.assigned_to],
      ["Next action", c.next_action_at],
    ];
    fill("case-summary", pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? "—"))]));
    fill(
      "points",
      (c.contact_points || []).map((p) =>
        el("li", {}, `${p.kind}: ${p.value} (${p.status})`),
      ),
    );
    fill(
      "promises",
      (c.promises || []).map((p) =>
        el("li", {}, `${money(p.amount)} by ${p.due_on} (${p.status})`),
      ),
    );
    fill("history", (c.attempts || []).map(historyLine));
    if (!$("check-debt").value && c.bill_id) $("check-debt").value = c.bill_id;
    $("case").hidden = false;
  }

  // Plans work on an account without an open case too (a supervisor's approvals).
  async function openAccount(accountId) {
    try {
      await openCase(accountId);
    } catch (err) {
      refuse(err);
      if (err.status !== 404) return;
    }
    $("plans").hidden = false;
    try {
      await loadInbox();
    } catch (err) {
      refuse(err);
    }
  }

  async function check(event) {
    event.preventDefault();
    const body = {
      channel: $("check-channel").value,
      planned_at: $("check-at").value.trim() || new Date().toISOString(),
      debt_id: $("check-debt").value.trim(),
    };
    try {
      const d = await post("contact", `/v1/accounts/${encodeURIComponent(account)}/contact-attempts/check`, body);
      const box = $("decision");
      box.dataset.decision = d.decision;
      box.dataset.attempt = d.attempt_id;
      $("decision-text").textContent = `${d.decision} (${d.jurisdiction || ""})`;
      const reasons = Array.isArray(d.explanation) ? d.explanation : [d.explanation];
      fill(
        "decision-rules",
        d.rule_ids.length
          ? d.rule_ids.map((rule, i) => el("li", {}, `${rule}: ${reasons[i] ?? reasons[0] ?? ""}`))
          : [el("li", {}, reasons.filter(Boolean).join(" ") || "no rule blocks this contact")],
      );
      $("decision-next").textContent = d.next_allowed_at
        ? `Next allowed: ${d.next_allowed_at}`
        : "";
      box.hidden = false;
      checked = d.decision === "allowed" ? { ...body, attempt_id: d.attempt_id } : null;
      $("record-form").hidden = checked === null;
    } catch (err) {
      refuse(err);
    }
  }

  async function record(event) {
    event.preventDefault();
    const body = {
      attempt_id: checked.attempt_id,
      channel: checked.channel,
      at: checked.planned_at,
      debt_id: checked.debt_id,
      outcome: $("outcome").value,
    };
    if (body.outcome === "promise_to_pay") {
      const [yuan, cents = ""] = $("promise-amount").value.trim().split(".");
      body.promise_amount = Number(yuan) * 100 + Number(cents.padEnd(2, "0") || 0);
      body.promise_date = $("promise-date").value;
    }
    try {
      await post("contact", `/v1/accounts/${encodeURIComponent(account)}/contact-attempts`, body);
      await openCase(account);
      say("Attempt recorded.", "ok");
    } catch (err) {
      refuse(err);
    }
  }

  async function quote() {
    try {
      const q = await post("plans", `/v1/accounts/${encodeURIComponent(account)}/plans/quote`, {});
      fill(
        "options",
        (q.options || []).map((o) =>
          el(
            "li",
            {},
            `${o.option_id} (${o.plan_type}) `,
            el("button", { type: "button", onclick: () => offer(o) }, `Offer ${o.option_id}`),
          ),
        ),
      );
    } catch (err) {
      refuse(err);
    }
  }

  async function offer(option) {
    const body = { plan_type: option.plan_type, channel: "agent", option: { option_id: option.option_id } };
    try {
      const plan = await post("plans", `/v1/accounts/${encodeURIComponent(account)}/plans`, body);
      say(`Plan ${plan.plan_id} offered (${plan.state}, approval ${plan.approval}).`, "ok");
      await loadInbox();
    } catch (err) {
      refuse(err);
    }
  }

  async function loadInbox() {
    if ((Arrears.claims() || {}).role !== "supervisor") {
      fill("inbox", [el("li", {}, "Approvals are for supervisors.")]);
      return;
    }
    const base = `/v1/accounts/${encodeURIComponent(account)}/plans`;
    const listed = await get("plans", base);
    const plans = await Promise.all(listed.plans.map((p) => get("plans", `${base}/${p.plan_id}`)));
    const waiting = plans.filter((p) => p.approval === "pending");
    fill(
      "inbox",
      waiting.length
        ? waiting.map((p) =>
            el(
              "li",
              { dataset: { plan: p.plan_id } },
              `${p.plan_id} (${p.plan_type}) `,
              el("button", { type: "button", onclick: () => decide(p, "approve") }, `Approve ${p.plan_id}`),
            ),
          )
        : [el("li", {}, "Nothing waits for approval.")],
    );
  }

  async function decide(plan, action) {
    try {
      await post("plans", `/v1/accounts/${encodeURIComponent(account)}/plans/${plan.plan_id}/${action}`);
      say(`Plan ${plan.plan_id} ${action}d.`, "ok");
      await loadInbox();
    } catch (err) {
      refuse(err);
    }
  }

  $("next-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const claimed = await post("contact", `/v1/queues/${encodeURIComponent($("queue").value)}/next`);
      await openAccount(claimed.account_id);
      say(`Claimed ${claimed.account_id}.`, "ok");
      await loadQueues();
    } catch (err) {
      refuse(err);
    }
  });
  $("open-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await openAccount($("account").value.trim());
  });
  $("check-form").addEventListener("submit", check);
  $("record-form").addEventListener("submit", record);
  $("quote").addEventListener("click", quote);

  Arrears.signIn({
    onSignedIn: () => {
      $("workspace").hidden = false;
      loadQueues();
    },
    onSignedOut: () => {
      $("workspace").hidden = true;
      $("case").hidden = true;
    },
  }).catch(refuse);
})();
