/* Answers waiting for the network, kept in IndexedDB; shared by the pages and the service worker.
   Each item has a client-made id and is deleted only once the server has replied, so nothing is
   lost; the server ignores a repeated identical answer, so a replay never records twice. */
(function (scope) {
  "use strict";
  var DB = "safe-and-sound", STORE = "answers";
  var ANSWER_URL = "/api/answer/";

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "id" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var req = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(req.result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function newId() {
    return scope.crypto && crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random();
  }

  /* Queue a token answer {token, status, note?}; resolves to the stored item. */
  function add(answer, url) {
    var item = { id: newId(), at: Date.now(), url: url || ANSWER_URL, answer: answer };
    return run("readwrite", function (s) { return s.put(item); }).then(function () { return item; });
  }

  function all() {
    return run("readonly", function (s) { return s.getAll(); });
  }

  function remove(id) {
    return run("readwrite", function (s) { return s.delete(id); });
  }

  function send(item) {
    return fetch(item.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": item.id },
      body: JSON.stringify(item.answer)
    });
  }

  async function drain() {
    var items = (await all()).sort(function (a, b) { return a.at - b.at; });
    var sent = 0;
    for (var i = 0; i < items.length; i++) {
      var response;
      try { response = await send(items[i]); } catch (e) { break; }  // still offline
      // A server error may pass; any other reply is final (recorded, or can never be).
      if (response.status >= 500 || response.status === 408 || response.status === 429) break;
      await remove(items[i].id);
      sent++;
    }
    return { sent: sent, left: (await all()).length };
  }

  var running = null;
  /* Send what is queued, oldest first; one drain at a time in this context. */
  function flush() {
    if (!running) running = drain().finally(function () { running = null; });
    return running;
  }

  scope.answerQueue = { add: add, all: all, flush: flush, ANSWER_URL: ANSWER_URL };
})(self);
