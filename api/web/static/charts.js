// Benchmark charts: one uPlot per series (hardware × scenario), latency percentiles on the left axis,
// throughput on the right, regressions as red markers. A click on the plot opens the nearest point's record.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var COLORS = { p50: "#8fb3e0", p95: "#3b7dd8", p99: "#163f80", qps: "#b36b00", regression: "#d0021b" };

  function height() { return window.innerWidth < 600 ? 220 : 280; }
  // Latency and throughput from zero, so a line's height is the figure and a regression looks its size.
  function fromZero(u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }
  // A week either side of a lone point; 4 % either side otherwise, so no point sits on the frame.
  function padTime(u, min, max) {
    var pad = max > min ? (max - min) * 0.04 : 7 * 86400;
    return [min - pad, max + pad];
  }

  function build(chart) {
    var el = document.getElementById(chart.id);
    if (!el) { return; }
    var data = [chart.x];
    var series = [{}];
    if (!chart.offline) {
      ["p50", "p95", "p99"].forEach(function (name) {
        data.push(chart[name]);
        series.push({ label: name + " ms", scale: "ms", stroke: COLORS[name], width: name === "p99" ? 2.5 : 1.5,
                      spanGaps: true, points: { show: true, size: 6 },
                      value: function (u, v) { return v == null ? "—" : v.toLocaleString() + " ms"; } });
      });
    }
    data.push(chart.qps);
    series.push({ label: "throughput qps", scale: "qps", stroke: COLORS.qps, width: 1.5, dash: [6, 4],
                  spanGaps: true, points: { show: true, size: 6 },
                  value: function (u, v) { return v == null ? "—" : v.toLocaleString() + " qps"; } });
    var marked = chart.marked === "p99" ? chart.p99 : chart.qps;
    data.push(chart.regressions.map(function (flag, i) { return flag ? marked[i] : null; }));
    series.push({ label: "regression", scale: chart.marked === "p99" ? "ms" : "qps", stroke: COLORS.regression,
                  fill: COLORS.regression, width: 0, paths: function () { return null; },
                  points: { show: true, size: 14, width: 2, stroke: COLORS.regression, fill: COLORS.regression },
                  value: function (u, v) { return v == null ? "" : "regression"; } });
    var axes = [{}];
    if (!chart.offline) {
      axes.push({ scale: "ms", label: "latency (ms)", values: function (u, ticks) { return ticks.map(function (t) { return t.toLocaleString(); }); } });
    }
    axes.push({ scale: "qps", label: "throughput (qps)", side: chart.offline ? 3 : 1, grid: { show: chart.offline },
                values: function (u, ticks) { return ticks.map(function (t) { return t.toLocaleString(); }); } });
    var opts = {
      width: Math.max(280, el.clientWidth), height: height(), series: series, axes: axes,
      scales: { x: { time: true, range: padTime }, ms: { range: fromZero }, qps: { range: fromZero } },
      cursor: { points: { size: 10 } }, legend: { live: true }
    };
    var plot = new uPlot(opts, data, el);
    el._uplot = plot;  // for the browser tests, which click a point
    plot.over.style.cursor = "pointer";
    plot.over.addEventListener("click", function () {
      var idx = plot.cursor.idx;
      if (idx != null && chart.urls[idx]) { window.location.assign(chart.urls[idx]); }
    });
    el.dataset.rendered = String(plot.data[0].length);
    el.dataset.renderedRegressions = String(data[data.length - 1].filter(function (v) { return v != null; }).length);
    return { el: el, plot: plot };
  }

  var built = charts.map(build).filter(Boolean);
  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(function () {
      built.forEach(function (b) { b.plot.setSize({ width: Math.max(280, b.el.clientWidth), height: height() }); });
    }, 100);
  });
}());
