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
  if (delivery.delivered_at) {
    return delivery.channel === "sms" ? "delivered to your phone" : "delivered to your mail server";
  }
  if (delivery.status !== "queued") return delivery.status;
  if (delivery.reason === "provider_unavailable") return "on its way: our mail provider is slow; we keep trying";
  if (delivery.next_attempt_after) return `on its way: next try in ${delivery.next_attempt_after} s`;
  return "on its way";
}

// What the page may say of the code, by its delivery's status: never "sent" before it is.
const LEADS = { queued: "A code is on its way to", sent: "We sent a code to" };

// Follow a delivery until it is sent, failed or expired, or a newer one replaces it; once sent,
// for two minutes more, the provider's receipt that it arrived (SES, Twilio, Vonage send one).
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
  if (data.status === "sent" && !data.delivered_at && looks < 60) {
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
  $("#register").hidden = true;
  $("#activate").hidden = false;
  $("#code").focus();
  deliveryId = data.delivery.id;
  follow(deliveryId);
});

$("#activate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearProblems(form);
  const { status, data } = await call("POST", "/v1/activations", { email: address, code: form.code.value.trim() });
  if (status !== 200) return showProblem(form, data);
  $("#activate").hidden = true;
  $("#active").hidden = false;
});

$("#resend").addEventListener("click", async () => {
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
  deliveryId = data.delivery.id;
  $("#delivery-status").textContent = describe(data.delivery);
  $("#delivery-problem").hidden = true;
  $("#resend-note").hidden = false;
  $("#code").value = "";
  clearInterval(countdown);
  $("#resend").disabled = true;
  follow(deliveryId);
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

// Back to an empty registration form, without a reload.
function registerAnother() {
  address = "";
  deliveryId = "";
  clearInterval(countdown);
  for (const id of ["#activate", "#active", "#resend-note", "#delivery-problem"]) $(id).hidden = true;
  $("#resend").hidden = false;
  $("#resend").disabled = true;
  $("#activate-form").reset();
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
  if (values.get("purpose") === "password_reset" && values.get("code")) {
    values.set("reset_code", values.get("code"));
    values.delete("code");
  }
  if (values.get("code")) {
    address = email;
    $("#sent-to").textContent = email;
    $("#register").hidden = true;
    $("#activate").hidden = false;
    $("#delivery-status").textContent = "sent";
    $("#sent-lead").textContent = LEADS.sent;
    $("#code").value = values.get("code");
    $("#activate-form").requestSubmit();
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
