"use strict";
// Every lever asks first in a dialog, then posts to the daemon's own route with the header that marks
// the request as the page's (the session cookie alone authenticates only reads), and reloads.
(function () {
  const dialog = document.getElementById("confirm");
  const text = document.getElementById("confirm-text");
  const message = document.getElementById("message");
  let pending = null;
  document.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      pending = button.dataset.action;
      text.textContent = button.dataset.confirm;
      dialog.showModal();
    });
  });
  dialog.addEventListener("close", async function () {
    const action = pending;
    pending = null;
    if (dialog.returnValue !== "ok" || action === null) {
      return;
    }
    try {
      const response = await fetch(action + "?by=dashboard", {
        method: "POST",
        credentials: "same-origin",
        headers: { "{{ form_header }}": "1" },
      });
      const body = await response.json();
      message.textContent = response.ok ? "Done." : "Refused: " + (body.error || body.message || response.status);
      if (response.ok) {
        window.location.reload();
      }
    } catch (error) {
      message.textContent = "The daemon did not answer: " + error;
    }
  });
  // Fresh numbers every 15 s, unless a confirmation is open.
  window.setInterval(function () {
    if (!dialog.open) {
      window.location.reload();
    }
  }, 15000);
})();
