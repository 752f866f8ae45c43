// The pages' own script, loaded on every page (the Content-Security-Policy allows no inline
// script). Each part enhances markup that already works without JavaScript.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Filter forms: a field marked data-autosubmit applies itself when changed (the form's
  // Apply button does the same without JavaScript).
  for (const field of document.querySelectorAll("[data-autosubmit]")) {
    field.addEventListener("change", () => field.form.requestSubmit());
  }

  // A finance report's chart: its spec is in a json_script element beside the canvas.
  const reportCanvas = document.getElementById("report-chart");
  const reportSpec = document.getElementById("report-chart-data");
  if (reportCanvas && reportSpec && window.Chart) {
    const spec = JSON.parse(reportSpec.textContent);
    new window.Chart(reportCanvas, {
      type: spec.type,
      data: {labels: spec.labels, datasets: spec.datasets},
      options: {scales: {x: {stacked: !!spec.stacked}, y: {stacked: !!spec.stacked}}},
    });
  }

  // The creator's earnings charts, drawn from the earnings JSON.
  const box = document.getElementById("earnings-charts");
  if (box && window.Chart) {
    const chart = (title, series, currency, exponent, kind) => {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.dataset.testid = "earnings-" + title.toLowerCase().replaceAll(" ", "-");
      figure.append(canvas);
      box.append(figure);
      new window.Chart(canvas, {
        type: kind,
        data: {
          labels: series.labels,
          datasets: [{
            label: title + " (" + currency + ")",
            data: series.amounts_minor.map((minor) => minor / 10 ** exponent),
          }],
        },
        options: {
          animation: false,
          plugins: {title: {display: true, text: title + " (" + currency + ")"}},
        },
      });
    };
    fetch(box.dataset.url, {credentials: "same-origin"})
      .then((response) => response.json())
      .then((data) => {
        if (!data.currencies.length) {
          box.querySelector("[data-testid=earnings-empty]").hidden = false;
          return;
        }
        for (const item of data.currencies) {
          chart("By month", item.by_month, item.currency, item.exponent, "bar");
          chart("By work", item.by_work, item.currency, item.exponent, "bar");
          chart("By licensee", item.by_licensee, item.currency, item.exponent, "doughnut");
        }
      });
  }
});
