/*
 * Rollwise's small page behaviours, kept out of the pages so that the Content-Security-Policy
 * can forbid inline scripts. Each one is switched on by markup:
 *
 * - form[data-confirm]: the browser asks before the form is sent;
 * - select[data-autosubmit]: choosing an option sends its form (a <noscript> button
 *   stands in without JavaScript);
 * - [data-print]: prints the page;
 * - [data-busy-text]: a slow download link says it is working for a few seconds;
 * - [data-job-status-url]: a background job's progress bar (_job_progress.html) follows the job
 *   and shows its result without a reload;
 * - #copy-minutes: copies the retro's chat text (#chat-text) to the clipboard.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("select[data-autosubmit]") && field.form) {
      field.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest && event.target.closest("[data-print]");
    if (trigger) {
      event.preventDefault();
      window.print();
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-busy-text]");
    if (!link || link.classList.contains("disabled")) { return; }
    var label = link.textContent;
    link.textContent = link.getAttribute("data-busy-text");
    link.classList.add("disabled");
    setTimeout(function () { link.textContent = label; link.classList.remove("disabled"); }, 8000);
  });

  // A background job's progress bar (templates/_job_progress.html): poll its status, move
  // the bar, and when it is done show the result without a reload: replace the element named
  // by data-job-swap with the same element of the result page, or open the result (a
  // download keeps this page). A failed job shows its message.
  function followJob(box) {
    var url = box.getAttribute("data-job-status-url");
    var bar = box.querySelector("[data-job-bar]");
    var message = box.querySelector("[data-job-message]");
    var error = box.querySelector("[data-job-error]");
    var done = box.querySelector("[data-job-done]");
    var link = box.querySelector("[data-job-result-link]");
    var swap = box.getAttribute("data-job-swap");
    var swapFrom = box.getAttribute("data-job-swap-from");
    function show(percent) {
      bar.style.width = percent + "%";
      bar.textContent = percent + "%";
      bar.parentNode.setAttribute("aria-valuenow", percent);
    }
    function stopAnimation() {
      bar.classList.remove("progress-bar-striped", "progress-bar-animated");
    }
    function openResult(resultUrl) {
      stopAnimation();
      box.setAttribute("data-job-status", "done");
      done.classList.remove("d-none");
      if (!resultUrl) { return; }
      link.setAttribute("href", resultUrl);
      link.classList.remove("d-none");
      var target = swap && document.querySelector(swap);
      if (!target) { window.location.assign(resultUrl); return; }
      var pageUrl = swapFrom || resultUrl;
      fetch(pageUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(swap);
          if (!fresh) { throw new Error("no " + swap); }
          target.replaceWith(document.importNode(fresh, true));
          if (window.location.pathname !== new URL(pageUrl, window.location.href).pathname) {
            window.history.replaceState(null, "", pageUrl);
          }
          start(document);
        })
        .catch(function () { window.location.assign(pageUrl); });
    }
    function fail(text) {
      stopAnimation();
      bar.classList.add("bg-danger");
      box.setAttribute("data-job-status", "failed");
      error.textContent = text || "";
      error.classList.remove("d-none");
    }
    function poll() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.error) { fail(s.error.message); return; }
          show(s.percent);
          message.textContent = s.message || "";
          if (s.status === "done") { show(100); message.textContent = ""; openResult(s.result_url); }
          else if (s.status === "failed") { fail(s.message); }
          else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    show(bar.parentNode.getAttribute("aria-valuenow"));
    var state = box.getAttribute("data-job-status");
    if (state === "done") { openResult(box.getAttribute("data-job-result-url")); }
    else if (state !== "failed") { setTimeout(poll, 300); }
  }
  function start(root) {
    root.querySelectorAll("[data-job-status-url]").forEach(function (box) {
      if (box.getAttribute("data-job-followed")) { return; }
      box.setAttribute("data-job-followed", "1");
      followJob(box);
    });
  }
  start(document);

  var copyButton = document.getElementById("copy-minutes");
  if (copyButton) {
    copyButton.addEventListener("click", async function (event) {
      var area = document.getElementById("chat-text");
      try { await navigator.clipboard.writeText(area.value); }
      catch (e) { area.select(); document.execCommand("copy"); }
      event.target.textContent = event.target.dataset.copied;
    });
  }
})();
