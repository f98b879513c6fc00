/*
 * Rollwise feedback form: send once, survive a dropped connection.
 *
 * - A double tap sends one request (the button is locked while sending), and the server
 *   stores one response per idempotency key anyway, so a resend is harmless.
 * - Before sending, the answers are saved in this browser (localStorage). If the network is
 *   down, the page says so and retries (with back-off, and as soon as the phone is back
 *   online); after a reload the saved answers are restored and sent.
 * - The saved answers are removed as soon as the server has them.
 * Without JavaScript the form posts normally.
 */
(function () {
  "use strict";
  var form = document.getElementById("feedback-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var key = form.getAttribute("data-storage-key");
  var statusBox = document.getElementById("feedback-status");
  var button = form.querySelector("button[type=submit]");
  var sending = false;
  var attempt = 0;
  var timer = null;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }
  function say(message, kind) {
    if (!statusBox) { return; }
    statusBox.textContent = message;
    statusBox.className = "alert alert-" + (kind || "info");
  }
  function save(pairs) {
    var s = storage();
    if (s) { try { s.setItem(key, JSON.stringify({pairs: pairs, saved: Date.now()})); } catch (e) { /* full */ } }
  }
  function load() {
    var s = storage();
    if (!s) { return null; }
    try { return JSON.parse(s.getItem(key) || "null"); } catch (e) { return null; }
  }
  function forget() {
    var s = storage();
    if (s) { s.removeItem(key); }
  }
  function collect() {
    var pairs = [];
    new FormData(form).forEach(function (value, name) { pairs.push([name, String(value)]); });
    return pairs;
  }
  function restore(pairs) {
    pairs.forEach(function (pair) {
      var fields = form.querySelectorAll("[name='" + pair[0].replace(/'/g, "") + "']");
      fields.forEach(function (field) {
        if (field.type === "radio" || field.type === "checkbox") {
          if (field.value === pair[1]) { field.checked = true; }
        } else if (field.type !== "file") {
          field.value = pair[1];
        }
      });
    });
  }
  function showPage(html) {
    document.open();
    document.write(html);
    document.close();
  }
  function retryLater(message) {
    attempt += 1;
    var delay = Math.min(30000, 2000 * Math.pow(2, Math.min(attempt, 4)));
    say(message, "warning");
    clearTimeout(timer);
    timer = setTimeout(send, delay);
  }
  function send() {
    var saved = load();
    if (!saved || sending) { return; }
    sending = true;
    if (button) { button.disabled = true; }
    say(attempt ? form.getAttribute("data-msg-retry") : form.getAttribute("data-msg-sending"), "info");
    var body = new URLSearchParams();
    saved.pairs.forEach(function (pair) { body.append(pair[0], pair[1]); });
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {"Accept": "text/html"},
      redirect: "follow"
    }).then(function (response) {
      sending = false;
      if (response.ok && response.redirected) {
        forget();
        window.location.assign(response.url);
        return null;
      }
      if (response.status === 429 || response.status >= 500) {
        if (button) { button.disabled = false; }
        retryLater(form.getAttribute(response.status === 429 ? "data-msg-busy" : "data-msg-retry"));
        return null;
      }
      // the server answered (a message about the answers, or a closed/expired form):
      // it has seen the answers, so show its page and stop keeping them here
      forget();
      return response.text().then(showPage);
    }).catch(function () {
      sending = false;
      if (button) { button.disabled = false; }
      retryLater(form.getAttribute("data-msg-offline"));
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) { return; }  // a double tap
    var idem = form.querySelector("input[name=idempotency_key]");
    if (idem && !idem.value && window.crypto && window.crypto.randomUUID) {
      idem.value = window.crypto.randomUUID().replace(/-/g, "");
    }
    attempt = 0;
    save(collect());
    send();
  });
  window.addEventListener("online", function () { if (load()) { attempt = 0; send(); } });

  var pending = load();
  if (pending && pending.pairs && pending.pairs.length) {
    restore(pending.pairs);
    say(form.getAttribute("data-msg-restored"), "info");
    send();
  }
})();
