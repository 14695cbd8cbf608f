// The admin page: users from GET /api/admin/users, every action a call to the admin API.
// Cookie-authenticated writes carry the login's CSRF token (x-csrf-token), as the API asks.
"use strict";

(() => {
  const PAGE = 50;
  let root, csrf, tbody, notice, more, search;
  let query = "";
  let after = null;

  // One idempotency key per attempt: a double click or a retried request grants once.
  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function say(text, ok) {
    notice.textContent = text;
    notice.className = "alert " + (ok ? "ok" : "error");
    notice.hidden = false;
  }

  async function api(method, path, body) {
    const init = { method, headers: { "x-csrf-token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = data.error || {};
      throw new Error(error.message || `${response.status} ${response.statusText}`);
    }
    return data;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined) td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function button(label, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (className) b.className = className;
    b.addEventListener("click", onClick);
    return b;
  }

  function render(user) {
    const row = document.createElement("tr");
    row.dataset.userId = String(user.id);
    row.dataset.email = user.email;
    cell(row, user.email);
    cell(row, user.role);
    const status = cell(row);
    const badge = document.createElement("span");
    badge.className = "badge " + (user.status === "active" ? "on" : user.status === "pending" ? "warn" : "off");
    badge.textContent = user.status;
    status.appendChild(badge);
    cell(row, user.balance.toLocaleString(), "num balance");
    cell(row, user.held.toLocaleString(), "num muted");

    const grant = cell(row, undefined, "grant");
    const amount = document.createElement("input");
    amount.type = "number";
    amount.min = "1";
    amount.step = "1";
    amount.placeholder = "credits";
    amount.setAttribute("aria-label", `Credits to grant ${user.email}`);
    const reason = document.createElement("input");
    reason.type = "text";
    reason.maxLength = 500;
    reason.placeholder = "reason";
    reason.setAttribute("aria-label", "Reason");
    let key = newKey();
    const give = button("Grant", "primary", async () => {
      const credits = Number(amount.value);
      if (!Number.isInteger(credits) || credits <= 0) return say("Enter a whole number of credits.", false);
      if (!reason.value.trim()) return say("Give a reason: it goes into the ledger and the audit log.", false);
      give.disabled = true;
      try {
        const result = await api("POST", `/api/admin/users/${user.id}/credits`, {
          action: "grant", amount: credits, reason: reason.value.trim(), idempotency_key: key,
        });
        key = newKey();
        amount.value = "";
        reason.value = "";
        row.querySelector(".balance").textContent = result.balance.toLocaleString();
        say(`Granted ${credits.toLocaleString()} credits to ${user.email}.`, true);
      } catch (error) {
        say(`Could not grant credits to ${user.email}: ${error.message}`, false);
      } finally {
        give.disabled = false;
      }
    });
    grant.append(amount, " ", reason, " ", give);

    const actions = cell(row, undefined, "actions");
    const active = user.status === "active";
    actions.appendChild(button(active ? "Disable" : "Enable", active ? "danger" : "", async (event) => {
      const verb = active ? "disable" : "enable";
      if (active && !window.confirm(`Disable ${user.email}? Their keys and logins stop working at once.`)) return;
      event.target.disabled = true;
      try {
        const body = active ? { reason: "disabled from the admin page" } : undefined;
        const updated = await api("POST", `/api/admin/users/${user.id}/${verb}`, body);
        row.replaceWith(render(updated.object === "realtime2.user" ? updated : { ...user, status: active ? "disabled" : "active" }));
        say(`${user.email} is ${active ? "disabled" : "enabled"}.`, true);
      } catch (error) {
        event.target.disabled = false;
        say(`Could not ${verb} ${user.email}: ${error.message}`, false);
      }
    }));
    return row;
  }

  async function load(reset) {
    if (reset) {
      after = null;
      tbody.replaceChildren();
    }
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (query) params.set("q", query);
    if (after !== null) params.set("after", String(after));
    try {
      const page = await api("GET", `/api/admin/users?${params}`);
      for (const user of page.data) tbody.appendChild(render(user));
      after = page.data.length ? page.data[page.data.length - 1].id : after;
      more.hidden = !page.has_more;
      document.getElementById("users-empty").hidden = tbody.children.length > 0;
      root.dataset.loaded = "true";
    } catch (error) {
      say(`Could not list users: ${error.message}`, false);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    root = document.getElementById("admin-users");
    if (!root) return;
    csrf = root.dataset.csrf;
    tbody = root.querySelector("#users tbody");
    notice = document.getElementById("admin-notice");
    more = document.getElementById("users-more");
    search = document.getElementById("user-search");
    search.addEventListener("submit", (event) => {
      event.preventDefault();
      query = search.elements.q.value.trim();
      load(true);
    });
    more.addEventListener("click", () => load(false));
    load(true);
  });
})();
