// Progressive enhancement only: every page works without this file.
// The incident list reloads itself; an incident page reloads when its log changes.
(function () {
  "use strict";
  var body = document.body;
  function busy() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
  }
  var every = parseInt(body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    window.setInterval(function () {
      if (!document.hidden && !busy()) { window.location.reload(); }
    }, every * 1000);
  }
  var watch = body.getAttribute("data-watch");
  if (watch) {
    var digest = body.getAttribute("data-digest");
    var poll = function () {
      if (document.hidden || busy()) { return; }
      fetch(watch, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) {
          if (state && state.digest !== digest) { window.location.reload(); }
        })
        .catch(function () { /* offline for a moment: try again on the next tick */ });
    };
    window.setInterval(poll, 2000);
  }
})();
