// corong web console: live zone board, queue and receivers (server-sent
// events), emergency confirmation and banner, announce, schedules, as-run
// log. No inline script (the CSP forbids it).
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
  const rx = [];
  for (const z of status.zones) {
    for (const r of z.receivers || []) {
      rx.push([z.name, r.cname || r.address, r.state,
        r.fraction_lost == null ? "" : (r.fraction_lost * 100).toFixed(1) + " %",
        r.jitter_ms == null ? "" : r.jitter_ms.toFixed(1) + " ms",
        r.last_heard.slice(11, 19) + " (" + Math.round(r.heard_s_ago) + " s)"]);
    }
  }
  fill("receivers", rx);
}

const EN = document.documentElement.lang === "en";

// A file's name for a table: uploads are named by their SHA-256, shortened.
function base(path) {
  const name = path.split("/").pop();
  return /^[0-9a-f]{64}\./.test(name) ? name.slice(0, 10) + "…" + name.slice(64) : name;
}

// Replace the rows of tbody `id`; a cell is text or an element.
function fill(id, rows) {
  const body = document.getElementById(id);
  if (!body) return;
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.append(c); else td.textContent = c == null ? "" : String(c);
      tr.append(td);
    }
    return tr;
  }));
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function renderQueue(queue) {
  const operator = !!document.getElementById("announce");
  fill("queue", queue.jobs.map((j) => {
    const acts = document.createElement("span");
    if (operator) {
      acts.append(button(EN ? "Cancel" : "Batalkan", "cancel", () => post("/api/cancel", { id: j.id })));
      if (j.state === "playing") {
        acts.append(button(EN ? "Skip" : "Lewati", "skip", () => post("/api/skip", { zones: j.zones })));
      }
    }
    return [j.id, j.kind, j.origin, j.priority, j.zones.join(", "), j.state,
      j.files.map(base).join(", "), (j.not_before || "").replace("T", " ").slice(0, 19), acts];
  }));
}

function loadSchedules() {
  if (!document.getElementById("schedules")) return;
  // Enough fire times for the week's view; the table shows the first five.
  fetch("/api/schedule?next=200", { credentials: "same-origin" }).then((r) => r.json()).then((s) => {
    const quiet = document.getElementById("quiet");
    quiet.textContent = s.quiet_hours
      ? quiet.dataset.label + ": " + s.quiet_hours.from + "–" + s.quiet_hours.to + " (" + s.timezone + ")"
      : quiet.dataset.none;
    const section = document.getElementById("schedules-section");
    const admin = section && section.dataset.admin === "true";
    fill("schedules", (s.schedules || []).map((x) => {
      const p = x.paused;
      const state = p
        ? (EN ? "paused by " : "dijeda oleh ") + p.by + (EN ? " since " : " sejak ") + p.since.replace("T", " ").slice(0, 16)
        : (EN ? "active" : "aktif");
      const acts = document.createElement("span");
      if (admin) {
        acts.append(p
          ? button(EN ? "Resume" : "Lanjutkan", "resume", () => pauseSchedule("resume", x.name))
          : button(EN ? "Pause" : "Jeda", "pause", () => pauseSchedule("pause", x.name)));
      }
      // One fire time, one holiday a line: the table stays narrow.
      const lines = (items) => {
        const cell = document.createElement("span");
        for (const i of items) {
          const line = document.createElement("span");
          line.className = "line";
          line.textContent = i;
          cell.append(line);
        }
        return cell;
      };
      return [x.name, x.cron, x.playlist, x.zones.join(", "),
        lines(x.next.slice(0, 5).map((t) => t.replace("T", " ").slice(0, 16))),
        lines(x.except_dates || []), state, acts];
    }));
    week(s);
  });
}

// The next seven days in the daemon's time zone, a column each: every
// fire time of every schedule that day (a paused one marked), at most 12
// a day and how many more.
function week(s) {
  const head = document.getElementById("week-days");
  const row = document.getElementById("week");
  if (!head || !row) return;
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: s.timezone });
  const name = new Intl.DateTimeFormat(EN ? "en-GB" : "id-ID", { timeZone: s.timezone, weekday: "short", day: "numeric", month: "short" });
  const days = [];
  for (let i = 0; i < 7; i++) {
    const at = new Date(Date.now() + i * 86400000);
    days.push({ date: day.format(at), label: name.format(at), fires: [] });
  }
  for (const x of s.schedules || []) {
    for (const t of x.next) {
      const d = days.find((d) => d.date === t.slice(0, 10));
      if (d) d.fires.push(t.slice(11, 16) + " " + x.name + (x.paused ? (EN ? " (paused)" : " (dijeda)") : ""));
    }
  }
  head.replaceChildren(...days.map((d) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = d.label;
    th.dataset.date = d.date;
    return th;
  }));
  row.replaceChildren(...days.map((d) => {
    const td = document.createElement("td");
    d.fires.sort();
    const shown = d.fires.length ? d.fires.slice(0, 12) : [row.dataset.none];
    for (const f of shown) {
      const line = document.createElement("span");
      line.className = "line";
      line.textContent = f;
      td.append(line);
    }
    if (d.fires.length > 12) {
      const line = document.createElement("span");
      line.className = "line";
      line.textContent = "+" + (d.fires.length - 12) + " " + row.dataset.more;
      td.append(line);
    }
    return td;
  }));
}

// An admin's pause or resume of schedule `name`; the table is fetched again.
function pauseSchedule(action, name) {
  const out = document.getElementById("schedules-result");
  post("/api/schedules/" + action, { name: name }).then((r) => r.json()).then((a) => {
    out.textContent = a.ok === false ? a.error : a.message;
    out.className = a.ok === false ? "error" : "ok";
    loadSchedules();
  });
}

function logQuery() {
  const q = new URLSearchParams();
  for (const [k, id] of [["date", "log-date"], ["zone", "log-zone"], ["origin", "log-origin"]]) {
    const v = document.getElementById(id).value.trim();
    if (v) q.set(k, v);
  }
  return q.toString();
}

function loadLog() {
  const q = logQuery();
  document.getElementById("log-csv").href = "/api/log.csv" + (q ? "?" + q : "");
  fetch("/api/log" + (q ? "?" + q : ""), { credentials: "same-origin" }).then((r) => r.json()).then((l) => {
    fill("log", (l.entries || []).map((e) => [e.zone, e.job, e.origin, base(e.file),
      e.started_at.replace("T", " ").slice(0, 19), (e.ended_at || "").replace("T", " ").slice(0, 19), e.how, e.reason || ""]));
  });
}

// The announcement heard before it is queued: a chosen file plays from the
// browser's own copy (an object URL, nothing sent); a text is rendered by
// the daemon (POST /api/say/preview) and played here, on no zone.
function wirePreview(form) {
  const audio = document.getElementById("announce-preview");
  const file = document.getElementById("announce-file");
  const listen = document.getElementById("announce-listen");
  const out = document.getElementById("announce-result");
  if (!audio || !file || !listen) return;
  let url = null;
  const play = (blob) => {
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(blob);
    audio.src = url;
    audio.hidden = false;
  };
  file.addEventListener("change", () => {
    if (file.files.length > 0) play(file.files[0]);
  });
  listen.addEventListener("click", () => {
    const text = document.getElementById("announce-text").value.trim();
    if (!text) return;
    out.textContent = "…";
    post("/api/say/preview", { text: text }).then((r) => {
      if (!r.ok) return r.json().then((a) => { out.textContent = a.error; out.className = "error"; });
      return r.blob().then((b) => { out.textContent = ""; play(b); audio.play().catch(() => {}); });
    });
  });
  form.addEventListener("reset", () => {
    if (url) URL.revokeObjectURL(url);
    url = null;
    audio.removeAttribute("src");
    audio.hidden = true;
  });
}

function wireAnnounce() {
  const form = document.getElementById("announce");
  if (!form) return;
  wirePreview(form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const out = document.getElementById("announce-result");
    out.textContent = "…";
    fetch("/api/announce", { method: "POST", credentials: "same-origin", body: new FormData(form) })
      .then((r) => r.json())
      .then((a) => {
        out.textContent = a.ok === false ? a.error : (EN ? "Queued: job " : "Masuk antrean: #") + a.id;
        out.className = a.ok === false ? "error" : "ok";
        if (a.ok !== false) form.reset();
      });
  });
}

function listen() {
  if (!document.getElementById("zones")) return;
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => render(JSON.parse(e.data)));
  events.addEventListener("queue", (e) => renderQueue(JSON.parse(e.data)));
  events.addEventListener("sites", (e) => renderSites(JSON.parse(e.data)));
}

// The regency's kiosks, as `corong sites` lists them.
function renderSites(reply) {
  const section = document.getElementById("sites-section");
  if (!section) return;
  const d = section.dataset;
  section.hidden = false;
  const link = reply.link;
  document.getElementById("sites-broker").textContent =
    (link.connected ? d.broker : d.lost) + " " + d.since + " " + link.since.slice(0, 19).replace("T", " ");
  fill("sites", reply.sites.map((s) => {
    const unwell = [];
    for (const z of s.zones) {
      if (z.state && z.state !== "streaming" && z.state !== "idle") unwell.push(z.name + ": " + z.state);
      if (z.receivers_silent) unwell.push(z.name + ": " + z.receivers_silent + "/" + z.receivers + " silent");
    }
    for (const f of s.feeds_failing || []) unwell.push("feed " + f.name + " !");
    const playing = s.zones.filter((z) => z.playing).map((z) => z.name + ": " + z.playing);
    return [
      s.name === reply.this ? s.name + " (" + d.this + ")" : s.name,
      s.online ? d.online : d.offline + (s.since ? " " + d.since + " " + s.since.slice(11, 19) : ""),
      s.zones.length,
      unwell.length ? unwell.join("; ") : d.ok,
      s.pending_alerts,
      playing.join("; "),
    ];
  }));
}

function wire() {
  const button = document.getElementById("emergency");
  const dialog = document.getElementById("confirm");
  if (button && dialog) {
    button.addEventListener("click", () => dialog.showModal());
    document.getElementById("confirm-no").addEventListener("click", () => dialog.close());
    // The request first, the dialog after: closing it costs the page a
    // style pass (2 to 4 ms in bench/web.sh) the emergency need not wait for.
    document.getElementById("confirm-yes").addEventListener("click", () => {
      post("/api/emergency", { text: document.getElementById("emergency-text").value });
      dialog.close();
    });
  }
  const stop = document.getElementById("emergency-stop");
  if (stop) stop.addEventListener("click", () => post("/api/emergency/stop"));
  wireAnnounce();
  const filter = document.getElementById("log-filter");
  if (filter) {
    filter.addEventListener("submit", (e) => { e.preventDefault(); loadLog(); });
    filter.addEventListener("change", () => {
      const q = logQuery();
      document.getElementById("log-csv").href = "/api/log.csv" + (q ? "?" + q : "");
    });
    loadLog();
  }
  loadSchedules();
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  listen();
});
