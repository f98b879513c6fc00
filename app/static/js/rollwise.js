/*
 * Rollwise's small page behaviours, kept out of the pages so that the Content-Security-Policy
 * can forbid inline scripts. Each one is switched on by markup:
 *
 * - form[data-confirm]: the browser asks before the form is sent;
 * - select[data-autosubmit]: choosing an option sends its form (a <noscript> button
 *   stands in without JavaScript);
 * - [data-print]: prints the page;
 * - [data-busy-text]: a slow download link says it is working for a few seconds;
 * - #progress[data-status-url]: a report being computed shows its progress, then reloads;
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

  document.querySelectorAll("[data-busy-text]").forEach(function (link) {
    link.addEventListener("click", function () {
      var label = link.textContent;
      link.textContent = link.getAttribute("data-busy-text");
      link.classList.add("disabled");
      setTimeout(function () { link.textContent = label; link.classList.remove("disabled"); }, 8000);
    });
  });

  function followProgress(box) {
    var url = box.getAttribute("data-status-url");
    var bar = document.getElementById("progress-bar");
    var step = document.getElementById("progress-step");
    function show(progress) {
      bar.style.width = progress + "%";
      bar.textContent = progress + "%";
      bar.parentNode.setAttribute("aria-valuenow", progress);
    }
    function poll() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          show(s.progress);
          step.textContent = s.step || "";
          if (s.done) { window.location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    show(bar.parentNode.getAttribute("aria-valuenow"));
    setTimeout(poll, 500);
  }
  var progress = document.querySelector("#progress[data-status-url]");
  if (progress) { followProgress(progress); }

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
