// The widget html-manager typesets labels with the MathJax 2 API (MathJax.Hub.Queue); the book
// serves MathJax 3. Map the one call it makes onto MathJax 3's typesetPromise.
(function () {
  function patch() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          var el = job && job[2];
          if (window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise(el ? [el] : undefined).catch(function () {});
          }
        },
      };
    }
  }
  patch();
  document.addEventListener("DOMContentLoaded", patch);
  window.addEventListener("load", patch);
})();
