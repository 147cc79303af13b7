/* Operator console enhancements: the region map, live counters and chart, live triage,
   and the activation confirmation. Every page works without this file. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";

  /* ---- Region map: draws into, and reads from, the GeoJSON textarea. ---- */
  function setUpMap(element) {
    var L = window.L;
    if (!L || !L.Control || !L.Control.Draw) return;
    var textarea = document.getElementById(element.dataset.target);
    var map = L.map(element, { center: [48.8566, 2.3522], zoom: 11 });
    if (element.dataset.tileUrl) {
      L.tileLayer(element.dataset.tileUrl, { maxZoom: 18 }).addTo(map);
    }
    var drawn = new L.FeatureGroup().addTo(map);
    map.addControl(new L.Control.Draw({
      edit: { featureGroup: drawn },
      draw: { polyline: false, marker: false, circlemarker: false, rectangle: true,
              polygon: { allowIntersection: false }, circle: true }
    }));

    function write() {
      var features = [];
      drawn.eachLayer(function (layer) {
        if (layer instanceof L.Circle) {
          var c = layer.getLatLng();
          features.push({ type: "Feature", properties: { radius_m: Math.round(layer.getRadius()) },
                          geometry: { type: "Point", coordinates: [c.lng, c.lat] } });
        } else {
          features.push(layer.toGeoJSON());
        }
      });
      textarea.value = features.length ? JSON.stringify({ type: "FeatureCollection", features: features }) : "";
    }

    function read() {
      drawn.clearLayers();
      var data;
      try { data = JSON.parse(textarea.value); } catch (e) { return; }
      L.geoJSON(data, {
        pointToLayer: function (feature, latlng) {
          return L.circle(latlng, { radius: (feature.properties || {}).radius_m || 100 });
        },
        onEachFeature: function (feature, layer) {
          if (layer.getLayers) { layer.getLayers().forEach(function (l) { drawn.addLayer(l); }); }
          else { drawn.addLayer(layer); }
        }
      });
      if (drawn.getLayers().length) map.fitBounds(drawn.getBounds(), { maxZoom: 14 });
    }

    map.on(L.Draw.Event.CREATED, function (event) { drawn.addLayer(event.layer); write(); });
    map.on(L.Draw.Event.EDITED, write);
    map.on(L.Draw.Event.DELETED, write);
    textarea.addEventListener("change", read);
    read();

    if (element.dataset.cellsUrl) {
      fetch(element.dataset.cellsUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (cells) {
          if (!cells) return;
          L.geoJSON(cells, { style: { color: "#b45309", weight: 1, fillOpacity: 0.15 },
                             interactive: false }).addTo(map);
        });
    }
  }

  /* ---- Live data: Server-Sent Events, falling back to polling every 2 s. ---- */
  function subscribe(element, onData) {
    var state = element.querySelector("[data-live-state]") || document.querySelector("[data-live-state]");
    var polling = null;
    function poll() {
      fetch(element.dataset.poll, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) onData(data); })
        .catch(function () {});
    }
    function startPolling() {
      if (polling) return;
      if (state) state.textContent = "(polling)";
      poll();
      polling = setInterval(poll, 2000);
    }
    if (!window.EventSource) { startPolling(); return; }
    var source = new EventSource(element.dataset.live);
    var failures = 0;
    source.onopen = function () { failures = 0; if (state) state.textContent = "(live)"; };
    source.onmessage = function (event) { onData(JSON.parse(event.data)); };
    source.onerror = function () {
      // The server ends each stream after a while and the browser reconnects; only
      // repeated failures mean events do not get through (a proxy, for instance).
      failures += 1;
      if (failures >= 3) { source.close(); startPolling(); }
    };
  }

  function showCounters(root, counters) {
    Object.keys(counters).forEach(function (name) {
      root.querySelectorAll('[data-counter="' + name + '"]').forEach(function (cell) {
        cell.textContent = counters[name];
      });
    });
  }

  function showDeliveries(tbody, deliveries) {
    if (!tbody) return;
    tbody.textContent = "";
    Object.keys(deliveries).sort().forEach(function (channel) {
      var counts = deliveries[channel];
      var row = tbody.insertRow();
      [channel, counts.sent || 0, counts.failed || 0, (counts.pending || 0) + (counts.sending || 0)]
        .forEach(function (value) { row.insertCell().textContent = value; });
    });
  }

  function drawChart(figure, points) {
    if (!figure) return;
    var old = figure.querySelector("svg");
    if (old) old.remove();
    var width = 600, height = 160, pad = 24;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    var total = points.reduce(function (sum, p) { return sum + p.safe + p.need_help + p.not_in_area; }, 0);
    var title = document.createElementNS(SVG, "title");
    title.textContent = total + " answers over the last " + points.length + " minutes with answers";
    svg.appendChild(title);
    var max = 1;
    points.forEach(function (p) { max = Math.max(max, p.safe, p.need_help, p.not_in_area); });
    var axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", pad); axis.setAttribute("x2", width - pad);
    axis.setAttribute("y1", height - pad); axis.setAttribute("y2", height - pad);
    axis.setAttribute("class", "axis");
    svg.appendChild(axis);
    var label = document.createElementNS(SVG, "text");
    label.setAttribute("x", 2); label.setAttribute("y", pad - 8);
    label.textContent = "max " + max + "/min";
    svg.appendChild(label);
    if (points.length) {
      var t0 = Date.parse(points[0].minute);
      var span = Math.max(Date.parse(points[points.length - 1].minute) - t0, 60000);
      ["safe", "need_help", "not_in_area"].forEach(function (key) {
        var line = document.createElementNS(SVG, "polyline");
        line.setAttribute("class", "series " + key);
        line.setAttribute("points", points.map(function (p) {
          var x = pad + (Date.parse(p.minute) - t0) / span * (width - 2 * pad);
          var y = height - pad - p[key] / max * (height - 2 * pad);
          return x.toFixed(1) + "," + y.toFixed(1);
        }).join(" "));
        svg.appendChild(line);
      });
    }
    figure.appendChild(svg);
  }

  function setUpLive(element) {
    var lastHelp;
    var seen = false;
    var fragment = element.dataset.fragment;
    subscribe(element, function (data) {
      showCounters(element, data.counters);
      showDeliveries(element.querySelector("[data-deliveries]"), data.deliveries);
      drawChart(element.querySelector("[data-chart]"), data.answers_per_minute);
      if (fragment && (!seen || data.need_help_latest !== lastHelp)) {
        var first = !seen;
        seen = true;
        lastHelp = data.need_help_latest;
        // Do not replace the rows while an operator is typing in them.
        if (!first && !element.contains(document.activeElement)) {
          fetch(fragment, { credentials: "same-origin" })
            .then(function (r) { return r.text(); })
            .then(function (html) { element.innerHTML = html; });
        }
      }
    });
  }

  /* ---- Activation: the button stays disabled until the title is typed exactly. ---- */
  function setUpConfirm(form) {
    var input = form.querySelector('[name="confirm_title"]');
    var button = form.querySelector('button[type="submit"]');
    function check() { button.disabled = input.value.trim() !== form.dataset.confirmTitle; }
    input.addEventListener("input", check);
    check();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".map[data-target]").forEach(setUpMap);
    document.querySelectorAll("[data-live]").forEach(setUpLive);
    document.querySelectorAll("form[data-confirm-title]").forEach(setUpConfirm);
  });
})();
