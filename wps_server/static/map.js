/* A job's footprints and tracks on a Leaflet map: each layer is a GeoJSON output of the job, read from
   the server. The base map is the configured tile URL; without one, a graticule gives the bearings. */
"use strict";

(function () {
  const element = document.getElementById("map");
  if (!element || typeof L === "undefined") return;
  const map = L.map(element, { worldCopyJump: true });
  if (element.dataset.basemap) {
    L.tileLayer(element.dataset.basemap, { attribution: element.dataset.attribution, maxZoom: 19 }).addTo(map);
  } else {
    element.classList.add("nobase");
  }
  L.control.scale({ imperial: false }).addTo(map);
  const styles = {
    footprint: { color: "#c2185b", weight: 2, fillColor: "#c2185b", fillOpacity: 0.18 },
    features: { color: "#1565c0", weight: 2, fillOpacity: 0.1 },
  };
  const drawn = L.featureGroup().addTo(map);

  function describe(feature) {
    const properties = feature.properties || {};
    const rows = Object.entries(properties)
      .filter(([, value]) => value !== null && typeof value !== "object")
      .slice(0, 8)
      .map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(String(value))}</td></tr>`);
    return rows.length ? `<table>${rows.join("")}</table>` : "";
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function graticule(bounds) {
    const span = Math.max(bounds.getEast() - bounds.getWest(), bounds.getNorth() - bounds.getSouth(), 1e-6);
    const raw = span / 4;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const lines = L.layerGroup();
    const style = { color: "#9aa5b1", weight: 1, opacity: 0.6, interactive: false, dashArray: "3 4" };
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    const south = Math.max(-90, bounds.getSouth() - 2 * span);
    const north = Math.min(90, bounds.getNorth() + 2 * span);
    for (let lon = Math.floor((bounds.getWest() - 2 * span) / step) * step; lon <= bounds.getEast() + 2 * span; lon += step) {
      L.polyline([[south, lon], [north, lon]], style)
        .bindTooltip(`${lon.toFixed(digits)}°`, { permanent: true, direction: "top", className: "grid-label", offset: [0, 0] })
        .addTo(lines);
    }
    for (let lat = Math.floor(south / step) * step; lat <= north; lat += step) {
      L.polyline([[lat, bounds.getWest() - 2 * span], [lat, bounds.getEast() + 2 * span]], style)
        .bindTooltip(`${lat.toFixed(digits)}°`, { permanent: true, direction: "right", className: "grid-label" })
        .addTo(lines);
    }
    lines.addTo(map);
  }

  const layers = JSON.parse(element.dataset.layers || "[]");
  Promise.all(
    layers.map((layer) =>
      fetch(layer.href, { headers: { Accept: "application/geo+json, application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((data) => {
          if (!data) return;
          L.geoJSON(data, {
            style: () => styles[layer.kind] || styles.features,
            pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 5, ...(styles[layer.kind] || styles.features) }),
            onEachFeature: (feature, shape) => {
              const text = describe(feature);
              shape.bindPopup(`<b>${escapeHtml(layer.name)}</b>${text}`);
            },
          }).addTo(drawn);
        })
    )
  ).then(() => {
    if (drawn.getLayers().length) {
      map.fitBounds(drawn.getBounds(), { padding: [30, 30], maxZoom: 18 });
      if (!element.dataset.basemap) graticule(drawn.getBounds());
    } else {
      map.setView([0, 0], 1);
    }
    element.dataset.ready = String(drawn.getLayers().length);
  });
})();
