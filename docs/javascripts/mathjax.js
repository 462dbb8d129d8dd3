// MathJax 3 configuration for pymdownx.arithmatex (generic mode).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  },
  startup: {
    // The first page: typeset, then fit its wide formulas (startup.promise waits for both).
    pageReady: function () {
      return MathJax.startup.defaultPageReady().then(fitWideMath);
    }
  }
};

// A display formula wider than its column is never cut off without a cue: one a little
// wider (down to MIN_SCALE) is scaled to fit; a wider one keeps its size in a box that
// scrolls sideways, marked "derive-wide" (a scrollbar that always shows and a shadow at the
// cut edge, see stylesheets/derive.css) under a line that says so.
var MIN_SCALE = 0.8;

function fitWideMath() {
  document.querySelectorAll(".derive-scroll-cue").forEach(function (cue) { cue.remove(); });
  document.querySelectorAll("div.arithmatex").forEach(function (box) {
    box.classList.remove("derive-wide");
    box.style.fontSize = "";
    var math = box.querySelector("mjx-math");
    if (!math) return;
    if (box.scrollWidth <= box.clientWidth) return;
    // the room the formula has: the box less what lies around the formula (margins)
    var width = math.getBoundingClientRect().width;
    var scale = (box.clientWidth - (box.scrollWidth - width)) / width;
    if (scale >= MIN_SCALE) {
      box.style.fontSize = Math.floor(scale * 1000) / 10 + "%";
      if (box.scrollWidth <= box.clientWidth) return;
      box.style.fontSize = "";
    }
    box.classList.add("derive-wide");
    var cue = document.createElement("p");
    cue.className = "derive-scroll-cue";
    cue.textContent = "\u2194 wider than the page: scroll the formula sideways";
    box.parentNode.insertBefore(cue, box);
  });
}

var fitTimer = null;
window.addEventListener("resize", function () {
  clearTimeout(fitTimer);
  fitTimer = setTimeout(fitWideMath, 200);
});

// MathJax typesets the first page by itself when it has loaded. Material's
// document$ emits for that first page too; typesetting again from there races
// MathJax's own first pass (extensions loaded on demand come out as errors), so
// skip that emission and re-typeset only the pages that instant navigation
// swaps in, each chained on MathJax.startup.promise so passes never overlap.
(function () {
  var first = true;
  document$.subscribe(function () {
    if (first) {
      first = false;
      return;
    }
    MathJax.startup.promise = MathJax.startup.promise.then(function () {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      return MathJax.typesetPromise().then(fitWideMath);
    });
  });
})();
