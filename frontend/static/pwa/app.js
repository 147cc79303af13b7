/* Safe & Sound pages: every form works without this file; it adds live updates, offline
   answers, notifications, location and copy. No framework, no build step. */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var hasSW = "serviceWorker" in navigator;
  var wordsPromise = null;

  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* The page carries its words (translated) so messages work offline too. */
  function words() {
    if (!wordsPromise) {
      var t = {};
      try { t = JSON.parse(document.body.dataset.words || "{}"); } catch (e) { /* keep the keys */ }
      wordsPromise = Promise.resolve(t);
    }
    return wordsPromise;
  }

  function say(key) {
    return words().then(function (t) {
      var net = document.getElementById("net");
      if (!net) return;
      net.textContent = t[key] || key;
      net.hidden = false;
    });
  }

  function csrf() {
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }

  /* --- Offline queue: the service worker replays it; without one, this page does. --- */
  function flushQueue() {
    if (!self.answerQueue) return;
    if (hasSW && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "flush" });
    } else {
      self.answerQueue.flush().then(afterFlush);
    }
  }

  function afterFlush(result) {
    if (result && result.sent) { say("sent"); pollAll(); }
  }

  if (hasSW) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "flushed") afterFlush(event.data);
    });
  }
  window.addEventListener("online", flushQueue);
  window.addEventListener("offline", function () { say("offline"); });
  window.addEventListener("load", flushQueue);

  /* --- Answering: post in the background; queue it when there is no network. --- */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("[data-signout]") || form.querySelector("[data-signout]")) {
      if (hasSW && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage({ type: "signout" });
      return;
    }
    if (!form.matches("[data-answer]")) return;
    var button = event.submitter;
    if (!button || !button.value) return;
    event.preventDefault();
    var data = new FormData(form);
    data.set("status", button.value);
    var card = form.closest("[data-checkin]");
    function queue() {
      return self.answerQueue.add({ token: form.dataset.token, status: button.value, note: data.get("note") || "" })
        .then(function () {
          mark(form, button);
          card && card.setAttribute("data-queued", "");
          say("queued");
          if (hasSW) navigator.serviceWorker.ready.then(function (reg) { return reg.sync && reg.sync.register("answers"); }).catch(function () {});
        });
    }
    if (!navigator.onLine) { queue(); return; }
    fetch(form.action, {
      method: "POST", credentials: "same-origin", body: data,
      headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
    }).then(function (response) {
      if (response.ok) { mark(form, button); say("recorded"); pollAll(); return; }
      return response.json().then(function (body) { say(body.error ? body.error.message : "error"); });
    }, queue);
  });

  function mark(form, button) {
    $all("button[name=status]", form).forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
  }

  /* --- Live: refresh fragments with ETags; never while someone is typing in them. --- */
  var etags = {};
  function poll(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) return Promise.resolve();
    var url = el.dataset.poll;
    var headers = etags[url] ? { "If-None-Match": etags[url] } : {};
    return fetch(url, { credentials: "same-origin", headers: headers, cache: "no-store" }).then(function (r) {
      if (r.status !== 200) return;
      etags[url] = r.headers.get("ETag");
      return r.text().then(function (html) {
        if (!el.contains(document.activeElement) || document.activeElement === document.body) {
          el.innerHTML = html;
          enhance(el);
        }
      });
    }).catch(function () {});
  }
  function pollAll() { return Promise.all($all("[data-poll]").map(poll)); }
  setInterval(function () { if (!document.hidden && navigator.onLine) pollAll(); }, POLL_MS);

  /* --- Enhancements that need JavaScript: shown only when it runs. --- */
  function enhance(root) {
    $all("[data-nudge]", root).forEach(function (b) { b.hidden = false; });
    if (navigator.geolocation) $all("[data-locate]", root).forEach(function (b) { b.hidden = false; });
    if (navigator.clipboard) $all("[data-copy]", root).forEach(function (b) { b.hidden = false; });
    if ("PushManager" in window && hasSW && window.Notification && Notification.permission !== "denied") {
      $all("[data-push]", root).forEach(function (s) { s.hidden = false; });
    }
  }
  enhance(document);

  document.addEventListener("click", function (event) {
    var target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.nudge) nudge(target);
    else if (target.hasAttribute("data-locate")) locate(target);
    else if (target.dataset.copy) copy(target);
    else if (target.hasAttribute("data-push-enable")) enablePush(target);
  });

  function nudge(button) {
    button.disabled = true;
    api("POST", "/api/checkins/" + button.dataset.nudge + "/nudge/", {}).then(function (r) {
      return words().then(function (t) { button.textContent = r.ok ? t.asked : t.error; });
    }, function () { button.disabled = false; say("offline"); });
  }

  function locate(button) {
    var form = button.closest("form");
    var state = form.querySelector("[data-locate-state]");
    words().then(function (t) { state.textContent = t.locating; });
    navigator.geolocation.getCurrentPosition(function (pos) {
      // Sent once, then stored as a ~0.1 km² cell by the server; the browser keeps nothing.
      form.querySelector("[name=lat]").value = pos.coords.latitude.toFixed(5);
      form.querySelector("[name=lon]").value = pos.coords.longitude.toFixed(5);
      form.querySelector("[name=label]").value = "current";
      form.submit();
    }, function () {
      words().then(function (t) { state.textContent = t.no_location; });
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 });
  }

  function copy(button) {
    var input = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(input.value).then(function () { say("copied"); });
  }

  function b64ToBytes(value) {
    var raw = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - value.length % 4) % 4));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }

  /* Asked only after a tap on "Turn on notifications", never on page load. */
  function enablePush(button) {
    var state = button.parentNode.querySelector("[data-push-state]");
    function show(key) { return words().then(function (t) { state.textContent = t[key] || key; }); }
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") return show("push_denied");
      return Promise.all([navigator.serviceWorker.ready, api("GET", "/api/push/vapid-public-key/").then(function (r) { return r.json(); })])
        .then(function (both) {
          var key = both[1].public_key || both[1].key;
          return both[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) });
        })
        .then(function (subscription) { return api("POST", "/api/me/push-subscriptions/", subscription.toJSON()); })
        .then(function (r) { return show(r.ok ? "push_on" : "push_failed"); });
    }).catch(function () { show("push_failed"); });
  }

  /* --- Phone: the SMS API takes JSON. --- */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var phone = form.matches("[data-phone]"), confirm = form.matches("[data-phone-confirm]");
    if (!phone && !confirm) return;
    event.preventDefault();
    var state = document.querySelector("[data-phone-state]");
    var request = phone
      ? api("PUT", "/api/me/phone/", { number: form.number.value })
      : api("POST", "/api/me/phone/confirm/", { code: form.code.value });
    request.then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return words().then(function (t) {
          if (!r.ok) { state.textContent = body.error ? body.error.message : t.error; return; }
          state.textContent = phone ? t.code_sent : t.phone_confirmed;
          if (phone) document.querySelector("[data-phone-confirm]").hidden = false;
        });
      });
    }, function () { say("offline"); });
  });
})();
