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

  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
