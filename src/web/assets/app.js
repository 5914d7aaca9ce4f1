// corong web console: live zone board (server-sent events), emergency
// confirmation and banner. No inline script (the CSP forbids it).
"use strict";

function post(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
}

function render(status) {
  const list = document.getElementById("zones");
  if (!list) return;
  const idle = list.dataset.idle || "idle";
  const emergencyZones = [];
  for (const z of status.zones) {
    const li = list.querySelector('li[data-zone="' + CSS.escape(z.name) + '"]');
    if (!li) continue;
    const p = z.playing;
    const onAir = !!p;
    li.className = "zone " + z.state + (onAir ? " on-air" : "");
    li.querySelector(".state").textContent = z.state;
    li.querySelector(".playing").textContent = p
      ? p.priority_name + " · " + p.origin + " · " + p.file.split("/").pop() + " · " + p.since.slice(11, 19)
      : idle;
    if (p && p.origin.startsWith("emergency:")) emergencyZones.push(z.name);
  }
  const banner = document.getElementById("banner");
  if (banner) {
    banner.hidden = emergencyZones.length === 0;
    document.getElementById("banner-zones").textContent = emergencyZones.join(", ");
  }
}

function listen() {
  if (!document.getElementById("zones")) return;
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => render(JSON.parse(e.data)));
}

function wire() {
  const button = document.getElementById("emergency");
  const dialog = document.getElementById("confirm");
  if (button && dialog) {
    button.addEventListener("click", () => dialog.showModal());
    document.getElementById("confirm-no").addEventListener("click", () => dialog.close());
    document.getElementById("confirm-yes").addEventListener("click", () => {
      const text = document.getElementById("emergency-text").value;
      dialog.close();
      post("/api/emergency", { text: text });
    });
  }
  const stop = document.getElementById("emergency-stop");
  if (stop) stop.addEventListener("click", () => post("/api/emergency/stop"));
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  listen();
});
