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
  }
};

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
      return MathJax.typesetPromise();
    });
  });
})();
