// Progressive enhancement for the dashboard pages; every form also works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The new key arrives in a POST response. Turning this history entry into a plain GET
  // means a reload neither re-submits the form (a second key) nor shows the key again.
  if (document.querySelector("[data-new-key]")) {
    history.replaceState(null, "", location.pathname);
  }

  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        // No clipboard API (plain http on a non-local host): select it for Ctrl+C.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  // An admin ends a running session through the admin API; its meter stops it at its next
  // renewal on whichever replica runs it, so the row says so rather than vanishing.
  const sessions = document.getElementById("sessions");
  for (const button of document.querySelectorAll("button[data-end-session]")) {
    button.addEventListener("click", async () => {
      if (!window.confirm("End this session? It is charged for the seconds it ran.")) return;
      const status = document.getElementById("sessions-status");
      button.disabled = true;
      try {
        const response = await fetch(`/api/admin/sessions/${encodeURIComponent(button.dataset.endSession)}/end`, {
          method: "POST",
          headers: { "x-csrf-token": sessions.dataset.csrf },
          credentials: "same-origin",
        });
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          throw new Error((body.error && body.error.message) || `${response.status}`);
        }
        button.textContent = "Ending…";
        status.textContent = "The session ends at its next renewal (within 10 s).";
      } catch (error) {
        button.disabled = false;
        status.textContent = `Could not end the session: ${error.message}`;
      }
    });
  }

  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
