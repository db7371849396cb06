// The caught mail's frame as tall as the mail in it, once loaded and whenever the width changes.
"use strict";

const frame = document.getElementById("html-part");

function fit() {
  const mail = frame.contentDocument && frame.contentDocument.documentElement;
  if (!mail) return;
  // Shrink first: a document is never shorter than its frame, so measure it at no height.
  frame.style.height = "0";
  frame.style.height = `${mail.scrollHeight}px`;
}

frame.addEventListener("load", fit);
window.addEventListener("resize", fit);
fit();
