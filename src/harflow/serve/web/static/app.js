/* harflow care: the pages' behaviour. Loaded as a file (no inline script: strict CSP); charts by Chart.js. */
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var COLORS = {
    WALKING: "#2e7d32", WALKING_UPSTAIRS: "#1b5e20", WALKING_DOWNSTAIRS: "#43a047",
    SITTING: "#f9a825", STANDING: "#0288d1", LAYING: "#6a1b9a"
  };
  function color(act) { return COLORS[act] || "#78909c"; }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  var statusEl = $("#live-status");
  function status(text, isError) {
    if (!statusEl) return;
    statusEl.textContent = text || "";
    statusEl.classList.toggle("is-error", !!isError);
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
      if (!r.ok) { throw new Error("the server answered " + r.status); }
      return r.json();
    });
  }

  function setState(name, text, isError) {
    var el = $('[data-state-for="' + name + '"]');
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
    el.classList.toggle("is-error", !!isError);
  }

  function ago(t) {
    if (!t) return "—";
    var s = Math.max(0, Date.now() / 1000 - t);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return new Date(t * 1000).toLocaleString();
  }
  function refreshTimes() {
    $all('time[data-field="seen"]').forEach(function (el) {
      var t = parseFloat(el.getAttribute("data-t"));
      if (t) { el.textContent = ago(t); el.setAttribute("datetime", new Date(t * 1000).toISOString()); }
    });
  }

  function showActivity(root, data) {
    var a = $('[data-field="activity"]', root);
    if (a && data.activity && a.getAttribute("data-activity") !== data.activity) {
      a.textContent = data.activity;
      a.setAttribute("data-activity", data.activity);
      a.classList.add("changed");
      window.setTimeout(function () { a.classList.remove("changed"); }, 1500);
    }
    var s = $('[data-field="seen"]', root);
    if (s && data.t) { s.setAttribute("data-t", String(data.t)); }
    refreshTimes();
  }

  function follow(url, handlers) {
    if (!window.EventSource) { status("Live updates need a newer browser.", true); return null; }
    var es = new EventSource(url);
    es.addEventListener("open", function () { status("Live"); });
    es.addEventListener("error", function () { status("Live updates interrupted; reconnecting…", true); });
    es.addEventListener("signed_out", function () { es.close(); window.location.assign("/login"); });
    Object.keys(handlers).forEach(function (k) {
      es.addEventListener(k, function (ev) { handlers[k](JSON.parse(ev.data)); });
    });
    return es;
  }

  // --- overview -------------------------------------------------------------------------------------------
  function overview() {
    refreshTimes();
    window.setInterval(refreshTimes, 5000);
    if (!$("#persons")) return;
    follow("/v1/live", {
      activity: function (d) {
        var card = $('.person[data-person="' + CSS.escape(d.person_id) + '"]');
        if (card) showActivity(card, d);
      },
      alert: function (d) {
        var card = $('.person[data-person="' + CSS.escape(d.person_id) + '"]');
        var n = card && $('[data-field="open-alerts"]', card);
        if (n) { n.textContent = String(parseInt(n.textContent, 10) + 1); n.classList.add("has-alerts"); }
      }
    });
  }

  // --- person ---------------------------------------------------------------------------------------------
  function hhmm(h) {
    var m = Math.round(h * 60);
    return String(Math.floor(m / 60)).padStart(2, "0") + ":" + String(m % 60).padStart(2, "0");
  }

  function person() {
    var root = $("#person");
    var pid = root.getAttribute("data-person");
    var base = "/v1/persons/" + encodeURIComponent(pid);
    refreshTimes();
    window.setInterval(refreshTimes, 5000);

    var todayChart = null;
    function drawToday(d) {
      var segs = d.segments || [];
      setState("today", segs.length ? "" : "No activity recorded today yet.");
      var data = segs.map(function (s) {
        return { x: [(s.t_start - d.day_start) / 3600, (s.t_end - d.day_start) / 3600], y: "today", a: s.activity };
      });
      var colors = segs.map(function (s) { return color(s.activity); });
      if (!todayChart) {
        todayChart = new Chart($("#today-chart"), {
          type: "bar",
          data: { datasets: [{ label: "activity", data: data, backgroundColor: colors, borderSkipped: false, barPercentage: 1, categoryPercentage: 1 }] },
          options: {
            indexAxis: "y", animation: false, maintainAspectRatio: false,
            scales: { x: { type: "linear", min: 0, max: 24, ticks: { stepSize: 3, callback: function (v) { return hhmm(v); } } },
                      y: { display: false } },
            plugins: { legend: { display: false },
                       tooltip: { callbacks: { label: function (c) {
                         var r = c.raw; return r.a + " " + hhmm(r.x[0]) + "–" + hhmm(r.x[1]); } } } }
          }
        });
      } else {
        todayChart.data.datasets[0].data = data;
        todayChart.data.datasets[0].backgroundColor = colors;
        todayChart.update();
      }
      var legend = $("#today-legend");
      legend.textContent = "";
      segs.map(function (s) { return s.activity; }).filter(function (a, i, all) { return all.indexOf(a) === i; })
        .sort().forEach(function (a) {
          var li = document.createElement("li");
          var sw = document.createElement("span");
          sw.className = "sw sw-" + (COLORS[a] ? a : "OTHER");
          li.appendChild(sw);
          li.appendChild(document.createTextNode(a.replace(/_/g, " ").toLowerCase()));
          legend.appendChild(li);
        });
      var mins = d.minutes || {};
      $("#today-minutes").textContent = Object.keys(mins).sort().map(function (k) {
        return k + " " + Math.round(mins[k]) + " min";
      }).join(" · ");
    }
    var todayBusy = false, todayAgain = false;
    function loadToday() {
      if (todayBusy) { todayAgain = true; return; }
      todayBusy = true;
      getJSON(base + "/today").then(drawToday).catch(function (e) {
        setState("today", "Could not load today's timeline: " + e.message, true);
      }).then(function () {
        todayBusy = false;
        if (todayAgain) { todayAgain = false; window.setTimeout(loadToday, 1000); }
      });
    }
    loadToday();

    var trendChart = null, days = 7, trend = null;
    function drawTrend() {
      var metric = $("#metric").value;
      var m = trend && trend.metrics[metric];
      var has = m && m.value.some(function (v) { return v !== null; });
      setState("trend", has ? "" : "No daily metrics for this period yet: they appear once a day of data has been analysed.");
      var labels = trend ? trend.dates : [];
      var sets = [
        { label: "usual (low)", data: m ? m.low : [], borderColor: "rgba(31,95,191,0.25)", pointRadius: 0, fill: false },
        { label: "usual range", data: m ? m.high : [], borderColor: "rgba(31,95,191,0.25)", backgroundColor: "rgba(31,95,191,0.15)", pointRadius: 0, fill: "-1" },
        { label: metric.replace(/_/g, " "), data: m ? m.value : [], borderColor: "#10315f", backgroundColor: "#10315f", pointRadius: 3, spanGaps: false }
      ];
      if (!trendChart) {
        trendChart = new Chart($("#trend-chart"), {
          type: "line", data: { labels: labels, datasets: sets },
          options: { animation: false, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
                     plugins: { legend: { labels: { filter: function (i) { return i.datasetIndex !== 0; } } } } }
        });
      } else {
        trendChart.data.labels = labels;
        trendChart.data.datasets = sets;
        trendChart.update();
      }
    }
    function loadTrend() {
      setState("trend", "Loading…");
      getJSON(base + "/trend?days=" + days).then(function (d) { trend = d; drawTrend(); }).catch(function (e) {
        setState("trend", "Could not load daily metrics: " + e.message, true);
      });
    }
    $all("[data-days]").forEach(function (b) {
      b.addEventListener("click", function () {
        days = parseInt(b.getAttribute("data-days"), 10);
        $all("[data-days]").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        loadTrend();
      });
    });
    $("#metric").addEventListener("change", drawTrend);
    loadTrend();

    getJSON(base + "/rhythm?days=90&window=7D").then(function (d) {
      var rows = d.windows || [];
      setState("rhythm", rows.length ? "" : "Not enough data for the rhythm yet.");
      if (!rows.length) return;
      var labels = rows.map(function (r, i) {
        var t = r.end || r.window_end || r.start || r.date;
        return t ? String(t).slice(0, 10) : "week " + (i + 1);
      });
      function series(k, c) {
        return { label: k, data: rows.map(function (r) { return r[k] === undefined ? null : r[k]; }), borderColor: c, backgroundColor: c };
      }
      new Chart($("#rhythm-chart"), {
        type: "line",
        data: { labels: labels, datasets: [series("IS", "#2e7d32"), series("IV", "#c25e00"), series("RA", "#1f5fbf")] },
        options: { animation: false, maintainAspectRatio: false }
      });
    }).catch(function (e) { setState("rhythm", "Could not load the rhythm: " + e.message, true); });

    follow("/v1/live?person=" + encodeURIComponent(pid), {
      activity: function (d) { showActivity(root, d); loadToday(); },
      alert: function () { var n = $("#new-alerts"); if (n) { n.hidden = false; $("a", n).setAttribute("href", location.pathname); } }
    });
  }

  if (page === "overview") overview();
  else if (page === "person") person();
  else if (page === "alerts") { refreshTimes(); }
})();
