// Outpost's reference sign-up page: every call is to the public API, every error a problem
// document (RFC 9457) whose `errors[].pointer` names the field ("#/email").
"use strict";

const $ = (selector) => document.querySelector(selector);

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data, retryAfter: Number(response.headers.get("Retry-After")) || 0 };
}

// Show a problem document on its form: each error beside its field, the rest at the bottom.
function showProblem(form, problem) {
  form.querySelectorAll(".error").forEach((el) => { el.textContent = ""; });
  const errors = problem.errors || [{ pointer: "#/", detail: problem.detail || problem.title || "Something went wrong." }];
  for (const error of errors) {
    const field = (error.pointer || "").replace(/^#\//, "");
    const slot = form.querySelector(`.error[data-for="${field}"]`) || form.querySelector('.error[data-for=""]');
    slot.textContent = error.detail;
  }
}

// The human check's token, when the page shows a widget (CAPTCHA_SITE_KEY): each provider's
// widget fills in a hidden field of its form, and a token verifies once.
const CAPTCHA_FIELDS = '[name="cf-turnstile-response"], [name="h-captcha-response"], [name="g-recaptcha-response"]';

function withCaptcha(form, body) {
  const field = form.querySelector(CAPTCHA_FIELDS);
  return field ? { ...body, captcha_token: field.value } : body;
}

// After a request spent the token, the widgets ask for a new one.
function resetCaptcha() {
  for (const widget of [window.turnstile, window.hcaptcha, window.grecaptcha]) {
    if (widget && typeof widget.reset === "function") widget.reset();
  }
}

function clearProblems(form) {
  form.querySelectorAll(".error").forEach((el) => { el.textContent = ""; });
}

let address = "";
let deliveryId = "";
let countdown = null;
// An address change asked for and not yet confirmed: the account's address and the new one.
// Kept for the tab (sessionStorage) so that the new address's one-click link confirms it.
let change = JSON.parse(sessionStorage.getItem("outpost.change") || "null");

function keepChange(value) {
  change = value;
  if (value) sessionStorage.setItem("outpost.change", JSON.stringify(value));
  else sessionStorage.removeItem("outpost.change");
  $("#activate-submit").textContent = value ? "Confirm the new address" : "Activate";
}

// The resend button waits as long as the API says (retry_after, or a 429's Retry-After).
function waitBeforeResend(seconds) {
  const button = $("#resend");
  clearInterval(countdown);
  let left = Math.ceil(seconds);
  const tick = () => {
    button.disabled = left > 0;
    button.textContent = left > 0 ? `Send a new code (in ${left} s)` : "Send a new code";
    left -= 1;
    if (left < 0) clearInterval(countdown);
  };
  tick();
  countdown = setInterval(tick, 1000);
}

// A delivery's status in words: why a queued message waits, and when it is tried again.
function describe(delivery) {
  if (delivery.status !== "queued") return delivery.status;
  if (delivery.reason === "provider_unavailable") return "on its way: our mail provider is slow; we keep trying";
  if (delivery.next_attempt_after) return `on its way: next try in ${delivery.next_attempt_after} s`;
  return "on its way";
}

// What the page may say of the code, by its delivery's status: never "sent" before it is.
const LEADS = { queued: "A code is on its way to", sent: "We sent a code to" };

// WebOTP, where the browser offers it (Chrome on Android): a code texted to this phone whose
// last line is `@<this page's host> #<code>` (WEBOTP_DOMAIN) fills in the field it is awaited in,
// and is sent when `submit`; a newer wait, or registering another account, ends the older one.
let textedCode = null;
function awaitTextedCode(input, submit) {
  if (!("OTPCredential" in window)) return;
  if (textedCode) textedCode.abort();
  textedCode = new AbortController();
  navigator.credentials.get({ otp: { transport: ["sms"] }, signal: textedCode.signal })
    .then((otp) => {
      if (!otp || !otp.code || input.closest("[hidden]")) return;
      input.value = otp.code;
      if (submit) input.form.requestSubmit();
    })
    .catch(() => {});
}

// Follow a delivery until it is sent, failed or expired, or a newer one replaces it; once sent,
// for two minutes more, a bounce that fails it (a receipt that it arrived is never shown to
// clients: a withheld message never gets one).
async function follow(id, looks = 0) {
  const { status, data } = await call("GET", `/v1/deliveries/${id}`);
  if (status !== 200 || id !== deliveryId) return;
  $("#delivery-status").textContent = describe(data);
  $("#sent-lead").textContent = LEADS[data.status] || "We could not deliver a code to";
  if (data.status === "queued") {
    setTimeout(() => follow(id), 1000);
    return;
  }
  if (looks === 0) {
    // No countdown toward an address that refused the code: a new one would go the same way.
    const rejected = data.status === "failed" && data.reason === "address_rejected";
    $("#delivery-problem").hidden = !rejected;
    $("#resend").hidden = rejected;
    if (rejected) clearInterval(countdown);
    else waitBeforeResend(data.retry_after || 0);
  }
  if (data.status === "sent" && looks < 60) {
    setTimeout(() => follow(id, looks + 1), 2000);
  }
}

$("#register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const body = { email: form.email.value.trim(), password: form.password.value };
  const { status, data } = await call("POST", "/v1/registrations", withCaptcha(form, body));
  resetCaptcha();
  if (status !== 202) return showProblem(form, data);
  address = body.email;
  $("#sent-to").textContent = address;
  showSuggestion(data.suggestion);
  $("#register").hidden = true;
  $("#activate").hidden = false;
  $("#code").focus();
  awaitTextedCode($("#code"), true);
  deliveryId = data.delivery.id;
  follow(deliveryId);
});

// A domain that looks mistyped (jane@gmial.com): the API suggests the common one, and one click
// moves the pending account there by an address change, with the password just typed.
function showSuggestion(suggested) {
  $("#suggestion").hidden = !suggested;
  $("#suggested").textContent = suggested || "";
}

$("#use-suggestion").addEventListener("click", () => {
  $("#suggestion").hidden = true;
  $("#new-email").value = $("#suggested").textContent;
  $("#change-password").value = $("#password").value;
  askChange();
});

// The code confirms the address change when one is asked for, else activates the account.
$("#activate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const code = form.code.value.trim();
  if (change) {
    const from = change.from || form.email.value.trim();
    const body = { email: from, new_email: change.to, code };
    const { status, data } = await call("POST", "/v1/address-changes/confirm", body);
    if (status !== 200) return showProblem(form, data);
    address = change.to;
    keepChange(null);
    $("#active-message").textContent = `Your address is now ${address}, and your account is active.`;
    $("#sign-in-email").value = address;
  } else {
    const body = { email: address, code };
    if (!$("#activate-password-field").hidden) body.password = form.password.value;
    const { status, data } = await call("POST", "/v1/activations", body);
    if (status === 409 && data.type && data.type.endsWith("/password-required")) {
      // A contested sign-up: the code is still good; it activates with the password chosen.
      $("#activate-password-field").hidden = false;
      $("#activate-password").focus();
      return;
    }
    if (status !== 200) return showProblem(form, data);
  }
  $("#activate").hidden = true;
  $("#active").hidden = false;
});

// Show the delivery of a code just asked for: the older code no longer works.
function followNewCode(delivery) {
  deliveryId = delivery.id;
  $("#delivery-status").textContent = describe(delivery);
  $("#delivery-problem").hidden = true;
  $("#resend").hidden = false;
  $("#code").value = "";
  clearInterval(countdown);
  $("#resend").disabled = true;
  awaitTextedCode($("#code"), true);
  follow(deliveryId);
}

// Ask for a code at the new address: the answer is the same whether or not the password
// was right or the address free (the API does not tell), so the page follows its delivery.
async function askChange() {
  const form = $("#change-form");
  clearProblems(form);
  const to = form.new_email.value.trim();
  const body = { email: address, password: form.password.value, new_email: to };
  const { status, data, retryAfter } = await call("POST", "/v1/address-changes", withCaptcha(form, body));
  resetCaptcha();
  if (status === 429) {
    form.hidden = false;
    showProblem(form, data);
    return waitBeforeResend(retryAfter);
  }
  if (status !== 202) {
    form.hidden = false;
    return showProblem(form, data);
  }
  keepChange({ from: address, to });
  $("#suggestion").hidden = true;
  form.hidden = true;
  $("#change-address").hidden = true;
  $("#sent-to").textContent = to;
  $("#resend-note").hidden = true;
  followNewCode(data.delivery);
  $("#code").focus();
}

$("#change-address").addEventListener("click", () => {
  $("#change-current").textContent = address;
  $("#change-form").hidden = false;
  $("#change-address").hidden = true;
  $("#new-email").focus();
});

$("#change-cancel").addEventListener("click", () => {
  $("#change-form").hidden = true;
  $("#change-address").hidden = false;
});

$("#change-form").addEventListener("submit", (event) => {
  event.preventDefault();
  askChange();
});

$("#resend").addEventListener("click", async () => {
  // A new code for a change goes to the new address, asked for as the first was.
  if (change) return askChange();
  const form = $("#activate-form");
  clearProblems(form);
  const { status, data, retryAfter } = await call("POST", "/v1/activations/resend", withCaptcha($("#activate-form"), { email: address }));
  resetCaptcha();
  if (status === 429) {
    showProblem(form, data);
    return waitBeforeResend(retryAfter);
  }
  if (status !== 202) return showProblem(form, data);
  // The answer names the new code's delivery: follow it; the older code no longer works.
  followNewCode(data.delivery);
  $("#resend-note").hidden = false;
});

$("#reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const { status, data } = await call("POST", "/v1/password-resets", withCaptcha(form, { email: form.email.value.trim() }));
  resetCaptcha();
  if (status !== 202) return showProblem(form, data);
  form.hidden = true;
  $("#confirm-form").hidden = false;
  $("#reset-code").focus();
  // The new password is still to be chosen: the code is filled in, not sent.
  awaitTextedCode($("#reset-code"), false);
});

$("#confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const body = {
    email: $("#reset-email").value.trim(),
    code: form.code.value.trim(),
    new_password: form.new_password.value,
  };
  const { status, data } = await call("POST", "/v1/password-resets/confirm", body);
  if (status !== 200) return showProblem(form, data);
  form.hidden = true;
  $("#reset-done").hidden = false;
});

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  $("#signed-in").hidden = true;
  const { status, data } = await call("POST", "/v1/logins", { email: form.email.value.trim(), password: form.password.value });
  if (status !== 200) return showProblem(form, data);
  // The API checks the credentials for the application's backend; it issues no session.
  $("#signed-in").textContent = `Signed in: account ${data.user_id} is ${data.status}.`;
  $("#signed-in").hidden = false;
});

// A sign-in code is asked for as a reset is: the answer is the same for every address.
$("#login-code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const { status, data } = await call("POST", "/v1/login-codes", withCaptcha(form, { email: form.email.value.trim() }));
  resetCaptcha();
  if (status !== 202) return showProblem(form, data);
  form.hidden = true;
  $("#login-confirm-form").hidden = false;
  $("#login-code-value").focus();
  awaitTextedCode($("#login-code-value"), true);
});

$("#login-confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const body = { email: $("#login-code-email").value.trim(), code: form.code.value.trim() };
  const { status, data } = await call("POST", "/v1/login-codes/confirm", body);
  if (status !== 200) return showProblem(form, data);
  // As for a password, the API tells the application's backend who it is; it issues no session.
  form.hidden = true;
  $("#code-signed-in").textContent = `Signed in: account ${data.user_id} is ${data.status}.`;
  $("#code-signed-in").hidden = false;
});

// Back to an empty registration form, without a reload.
function registerAnother() {
  address = "";
  deliveryId = "";
  keepChange(null);
  clearInterval(countdown);
  if (textedCode) textedCode.abort();
  for (const id of ["#activate", "#active", "#suggestion", "#resend-note", "#delivery-problem", "#change-form", "#change-from-field", "#activate-password-field"]) $(id).hidden = true;
  $("#resend").hidden = false;
  $("#resend").disabled = true;
  $("#change-address").hidden = false;
  $("#active-message").textContent = "Your account is active.";
  $("#activate-form").reset();
  $("#change-form").reset();
  $("#register-form").reset();
  $("#sent-lead").textContent = LEADS.queued;
  $("#delivery-status").textContent = "on its way";
  $("#register").hidden = false;
  $("#email").focus();
}
for (const button of document.querySelectorAll(".register-another")) {
  button.addEventListener("click", registerAnother);
}

// A link from the caught mail (/dev/mail), or a mail's own one-click link (CODE_LINK_URL,
// `purpose` naming which code it is), carries the address and its code in the fragment, which
// the browser sends to no server: take them out of the address bar and use them.
function useLinkedCode() {
  const values = new URLSearchParams(location.hash.slice(1));
  const email = values.get("email");
  if (!email) return;
  history.replaceState(null, "", location.pathname + location.search);
  $("#sign-in-email").value = email;
  const fields = { password_reset: "reset_code", address_change: "change_code", login_code: "login_code" };
  if (fields[values.get("purpose")] && values.get("code")) {
    values.set(fields[values.get("purpose")], values.get("code"));
    values.delete("code");
  }
  if (values.get("change_code")) {
    // The new address's code: confirmed with the change this tab asked for, or, opened
    // elsewhere, once the account's current address is given.
    if (!change || change.to !== email) keepChange({ from: "", to: email });
    address = change.from;
    $("#change-from-field").hidden = Boolean(change.from);
    // Opened elsewhere, the page has no password to ask the new code with.
    $("#resend").hidden = !change.from;
    $("#change-address").hidden = true;
    $("#sent-to").textContent = email;
    $("#register").hidden = true;
    $("#activate").hidden = false;
    $("#delivery-status").textContent = "sent";
    $("#sent-lead").textContent = LEADS.sent;
    $("#code").value = values.get("change_code");
    if (change.from) $("#activate-form").requestSubmit();
    else $("#change-from").focus();
  } else if (values.get("code")) {
    address = email;
    $("#sent-to").textContent = email;
    $("#register").hidden = true;
    $("#activate").hidden = false;
    $("#delivery-status").textContent = "sent";
    $("#sent-lead").textContent = LEADS.sent;
    $("#code").value = values.get("code");
    $("#activate-form").requestSubmit();
  } else if (values.get("login_code")) {
    $("#login-code-email").value = email;
    $("#login-code-form").hidden = true;
    $("#login-confirm-form").hidden = false;
    $("#login-code-value").value = values.get("login_code");
    $("#login-confirm-form").requestSubmit();
  } else if (values.get("reset_code")) {
    $("#reset-email").value = email;
    $("#reset-form").hidden = true;
    $("#confirm-form").hidden = false;
    $("#reset-code").value = values.get("reset_code");
    $("#new-password").focus();
  }
}

useLinkedCode();
// A link followed while the page is open changes only the fragment: no reload, so listen.
window.addEventListener("hashchange", useLinkedCode);
