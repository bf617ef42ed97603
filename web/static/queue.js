// The dashboard's only script: live SLA countdowns on every page, and on the queue a short
// poll of /api/queue that redraws the rows. Data only ever reaches the page through
// textContent and setAttribute, never innerHTML: a subject holding HTML stays text.
"use strict";

(function () {
  const POLL_MS = 3000;

  function duration(seconds) {
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const secs = seconds % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (days) return `${days}d ${two(hours)}h`;
    if (hours) return `${hours}h ${two(minutes)}m`;
    return `${minutes}m ${two(secs)}s`;
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll("time[data-due]")) {
      const due = Date.parse(el.dataset.due);
      if (Number.isNaN(due)) continue;
      const seconds = Math.round((due - now) / 1000);
      const past = seconds < 0;
      el.textContent = past ? `overdue by ${duration(-seconds)}` : `due in ${duration(seconds)}`;
      el.classList.toggle("breached", past);
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  // The same badge as _marks.j2: the CSS draws its shape, the text is in the page's font.
  function mark(indicator) {
    return el(
      "span",
      {
        class: `mark mark-${indicator.kind}`,
        role: "img",
        "aria-label": indicator.label,
        title: indicator.label,
      },
      el("span", { class: "mark-text" }, indicator.text),
    );
  }

  const words = (text) => String(text || "").replaceAll("_", " ");

  function row(item) {
    const isPriority = (i) => i.label.startsWith("Priority");
    const priorityMark = item.indicators.find(isPriority);
    const flags = item.indicators.filter((i) => !isPriority(i));
    const priority = el("td", { "data-label": "Priority" });
    if (priorityMark) priority.append(mark(priorityMark));
    else priority.append(el("span", { class: "priority" }, item.priority));

    const link = el(
      "a",
      { href: `/tickets/${encodeURIComponent(item.ticketId)}` },
      el("span", { class: "ticket-id" }, item.ticketId),
      " ",
      el("span", { class: "subject" }, item.subject || "(no subject yet)"),
    );
    const flagCell = el("td", { "data-label": "Flags" });
    if (flags.length) flags.forEach((f) => flagCell.append(mark(f), " "));
    else flagCell.append(el("span", { class: "muted" }, "—"));

    const deadline = el("td", { "data-label": "Next deadline" });
    if (item.paused) {
      deadline.append(el("span", { class: "paused" }, "paused"));
    } else if (item.slaDueAt) {
      deadline.append(
        el("time", { class: "countdown", datetime: item.slaDueAt, "data-due": item.slaDueAt }),
      );
    } else {
      deadline.append(el("span", { class: "muted" }, "no deadline"));
    }
    return el(
      "tr",
      { "data-ticket-id": item.ticketId },
      priority,
      el("td", { "data-label": "Ticket" }, link),
      el("td", { "data-label": "Customer" }, item.customerName || "—"),
      flagCell,
      el("td", { "data-label": "Team" }, words(item.team)),
      el(
        "td",
        { "data-label": "State" },
        el("span", { class: `state state-${item.state}` }, words(item.state)),
        item.reopened ? " " : null,
        item.reopened ? el("span", { class: "reopened" }, `reopened · episode ${item.episode}`) : null,
      ),
      deadline,
    );
  }

  function startPolling(table) {
    const body = table.tBodies[0];
    const status = document.getElementById("queue-status");
    const team = table.dataset.team;
    if (table.dataset.paged) return; // a later page stays as served: polling redraws the first
    let known = new Set([...body.querySelectorAll("tr[data-ticket-id]")].map((r) => r.dataset.ticketId));

    async function refresh() {
      const url = new URL("/api/queue", window.location.origin);
      if (team) url.searchParams.set("team", team);
      let response;
      try {
        response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      } catch {
        status.textContent = "Cannot reach the server; retrying.";
        return;
      }
      if (response.status === 401) {
        const here = window.location.pathname + window.location.search;
        window.location.assign(`/login?next=${encodeURIComponent(here)}`);
        return;
      }
      if (!response.ok) {
        status.textContent = `Could not refresh the queue (HTTP ${response.status}); retrying.`;
        return;
      }
      const data = await response.json();
      const rows = data.items.map(row);
      const arrived = data.items.filter((item) => !known.has(item.ticketId));
      for (const tr of rows) if (!known.has(tr.dataset.ticketId)) tr.classList.add("arrived");
      if (!rows.length) {
        const empty = el("td", { colspan: "7" }, team ? `No open escalations for ${words(team)}.` : "No open escalations.");
        rows.push(el("tr", { class: "empty" }, empty));
      }
      body.replaceChildren(...rows);
      known = new Set(data.items.map((item) => item.ticketId));
      tick();
      const count = data.items.length;
      const where = data.nextCursor ? " on the first page" : "";
      let text = `${count} open escalation${count === 1 ? "" : "s"}${where}, most urgent first.`;
      if (arrived.length) {
        text += ` New: ${arrived.map((i) => `${i.ticketId} (${i.priority})`).join(", ")}.`;
      }
      status.textContent = text;
    }

    window.setInterval(refresh, POLL_MS);
  }

  function init() {
    tick();
    window.setInterval(tick, 1000);
    const select = document.getElementById("team");
    if (select && select.form) select.addEventListener("change", () => select.form.submit());
    const table = document.getElementById("queue");
    if (table) startPolling(table);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
