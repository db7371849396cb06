// The dashboard's one-click sign-in of `outpost up`: the banner's link carries the admin token in
// its fragment, which the browser sends to no server; this script takes it out of the address bar
// and posts it to the dashboard's own sign-in form, as an operator typing it would.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
const form = document.querySelector("#dashboard-sign-in");
if (token) {
  form.token.value = token;
  form.submit();
} else {
  document.querySelector("#sign-in-status").textContent =
    "Paste the token that `outpost up` keeps in var/admin_token.";
}
