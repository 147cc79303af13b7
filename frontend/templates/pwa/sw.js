/* Safe & Sound service worker: app shell offline, one-tap answers from notifications,
   answers queued while offline and replayed when the network returns. */
"use strict";
const VERSION = {{ version|safe }};
const PRECACHE = {{ precache|safe }};
const SHELL = "shell-" + VERSION;
const PAGES = "pages";
importScripts({{ queue_url|safe }});

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== SHELL && key !== PAGES) await caches.delete(key);
    }
    await self.clients.claim();
    await self.answerQueue.flush();
  })());
});

async function pageFromNetwork(request) {
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) {
      const cache = await caches.open(PAGES);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (e) {
    const cached = await caches.match(request, { ignoreSearch: true });
    return cached || caches.match("/offline");
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(pageFromNetwork(request));
  } else if (url.pathname.startsWith("/static/") || PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});

async function words(language) {
  const lang = ["en", "fr"].includes(language) ? language : (self.navigator.language || "en").slice(0, 2);
  const url = "/strings/" + (lang === "fr" ? "fr" : "en") + ".json";
  const response = (await caches.match(url)) || (await fetch(url));
  return response.json();
}

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data.text() }; }
  event.waitUntil((async () => {
    const t = await words(data.lang);
    const actions = data.token
      ? (data.actions || [{ action: "safe", title: t.safe }, { action: "need_help", title: t.need_help }])
      : [];
    await self.registration.showNotification(data.title || t.ask, {
      body: data.body || "",
      tag: data.tag || "safe-and-sound",
      icon: PRECACHE.find((u) => u.includes("icon-192")),
      data: data,
      actions: actions,
      requireInteraction: Boolean(data.token),
    });
  })());
});

function answerUrl(data) {
  // The payload's URL is absolute for the configured site; post to this origin's path.
  try { return new URL(data.answer_url).pathname; } catch (e) { return self.answerQueue.ANSWER_URL; }
}

async function answerFromNotification(data, status) {
  await self.answerQueue.add({ token: data.token, status: status }, answerUrl(data));
  const result = await self.answerQueue.flush();
  const t = await words(data.lang);
  await self.registration.showNotification(data.incident || data.title || t.ask, {
    body: result.left ? t.queued : t.recorded,
    tag: data.tag || "safe-and-sound",
    silent: true,
  });
  if (result.left && self.registration.sync) await self.registration.sync.register("answers");
}

async function openPage(path) {
  const url = new URL(path, self.location.origin).href;
  for (const client of await self.clients.matchAll({ type: "window" })) {
    if (client.url === url && "focus" in client) return client.focus();
  }
  return self.clients.openWindow(url);
}

// Events dispatched by a script are untrusted and cannot extend their lifetime; the work runs anyway.
function keepAlive(event, work) {
  try { event.waitUntil(work); } catch (e) { /* untrusted event */ }
}

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  if (data.token && (event.action === "safe" || event.action === "need_help")) {
    keepAlive(event, answerFromNotification(data, event.action));
  } else {
    keepAlive(event, openPage(data.url ? new URL(data.url).pathname : (data.token ? "/r/" + data.token : "/")));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "answers") return;
  event.waitUntil(self.answerQueue.flush().then((r) => { if (r.left) throw new Error("still offline"); }));
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "flush") {
    event.waitUntil(self.answerQueue.flush().then((result) => {
      if (event.source) event.source.postMessage({ type: "flushed", sent: result.sent, left: result.left });
    }));
  } else if (type === "signout") {
    event.waitUntil(caches.delete(PAGES));
  }
});
