// The console's only script (served from the package; no third-party code).
// Print buttons and a second look before acts marked as needing one.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.print").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("form.confirm").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm") || "确定？")) { e.preventDefault(); }
    });
  });
});
