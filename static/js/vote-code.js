// A slip's QR code links to /vote#CODE: browsers never send the fragment, so the code stays out of
// requests and logs. Fill the form with it, take it out of the address bar and the history, and
// leave the sending to the voter, as when the code is typed.
(function () {
  "use strict";
  var code = location.hash.slice(1);
  var form = document.getElementById("code-form");
  if (!form || !/^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$/.test(code)) {
    return;
  }
  history.replaceState(history.state, "", location.pathname + location.search);
  form.elements.code.value = code.toUpperCase();
  form.querySelector("button[type=submit]").focus();
})();
