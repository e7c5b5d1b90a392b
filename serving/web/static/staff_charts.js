/*
 * The staff dashboard's figures: small inline SVG plots drawn from the numbers of
 * /api/v1/admin/figures, with no chart library. One plot per series, hours along the bottom.
 * Exposes `window.StaffCharts.plot(container, options)`, and `shares(parts)`: one bar split
 * by shares (a memory pattern's conversations: booked, escalated, dropped).
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 640;
  var HEIGHT = 200;
  var PAD = { top: 14, right: 12, bottom: 26, left: 58 };

  function svgNode(tag, attributes, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  /* A "nice" top for the y axis: 1, 2 or 5 times a power of ten, at least `value`. */
  function niceCeiling(value) {
    if (!(value > 0)) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i += 1) {
      if (steps[i] * power >= value) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  /*
   * options: {title, labels: [text per bucket], series: [{name, values, kind: "bar"|"line"}],
   * format: number -> text}. Missing values (null) leave a gap in a line and no bar.
   * The plot reads left to right in both languages (time runs that way on every axis); its
   * title and legend follow the page's direction.
   */
  function plot(container, options) {
    var labels = options.labels || [];
    var format = options.format || String;
    var count = Math.max(labels.length, 1);
    var highest = 0;
    options.series.forEach(function (series) {
      series.values.forEach(function (value) {
        if (typeof value === "number" && value > highest) {
          highest = value;
        }
      });
    });
    var top = niceCeiling(highest);
    var innerWidth = WIDTH - PAD.left - PAD.right;
    var innerHeight = HEIGHT - PAD.top - PAD.bottom;
    var step = innerWidth / count;
    var x = function (index) {
      return PAD.left + step * index + step / 2;
    };
    var y = function (value) {
      return PAD.top + innerHeight - (value / top) * innerHeight;
    };

    var figure = document.createElement("figure");
    figure.className = "chart";
    var caption = document.createElement("figcaption");
    caption.className = "chart__title";
    caption.textContent = options.title;
    figure.appendChild(caption);

    var svg = svgNode("svg", {
      viewBox: "0 0 " + WIDTH + " " + HEIGHT,
      class: "chart__plot",
      role: "img",
      "aria-label": options.title,
      direction: "ltr"
    });
    [0, 0.5, 1].forEach(function (fraction) {
      var level = y(top * fraction);
      svg.appendChild(svgNode("line", {
        x1: PAD.left, x2: WIDTH - PAD.right, y1: level, y2: level, class: "chart__grid"
      }));
      svg.appendChild(svgNode("text", {
        x: PAD.left - 6, y: level + 4, class: "chart__axis", "text-anchor": "end"
      }, format(top * fraction)));
    });
    var every = Math.max(1, Math.ceil(count / 8));
    labels.forEach(function (label, index) {
      if (index % every === 0) {
        svg.appendChild(svgNode("text", {
          x: x(index), y: HEIGHT - 8, class: "chart__axis", "text-anchor": "middle"
        }, label));
      }
    });

    options.series.forEach(function (series, seriesIndex) {
      var className = "chart__series chart__series--" + seriesIndex;
      if (series.kind === "bar") {
        var barWidth = Math.max(2, step * 0.7);
        series.values.forEach(function (value, index) {
          if (typeof value !== "number") {
            return;
          }
          var bar = svgNode("rect", {
            x: x(index) - barWidth / 2, y: y(value), width: barWidth,
            height: Math.max(0, PAD.top + innerHeight - y(value)), class: className + " chart__bar"
          });
          bar.appendChild(svgNode("title", {}, labels[index] + ": " + format(value)));
          svg.appendChild(bar);
        });
        return;
      }
      var path = "";
      var pen = "M";
      series.values.forEach(function (value, index) {
        if (typeof value !== "number") {
          pen = "M";
          return;
        }
        path += pen + x(index).toFixed(1) + " " + y(value).toFixed(1) + " ";
        pen = "L";
        var dot = svgNode("circle", {
          cx: x(index), cy: y(value), r: 2.5, class: className + " chart__dot"
        });
        dot.appendChild(svgNode("title", {}, labels[index] + ": " + format(value)));
        svg.appendChild(dot);
      });
      if (path) {
        svg.appendChild(svgNode("path", { d: path.trim(), class: className + " chart__line" }));
      }
    });
    figure.appendChild(svg);

    if (options.series.length > 1) {
      var legend = document.createElement("ul");
      legend.className = "chart__legend";
      options.series.forEach(function (series, seriesIndex) {
        var item = document.createElement("li");
        item.className = "chart__key chart__key--" + seriesIndex;
        item.textContent = series.name;
        legend.appendChild(item);
      });
      figure.appendChild(legend);
    }
    container.appendChild(figure);
    return figure;
  }

  /*
   * A bar 120 wide split into `parts` ({kind, share from 0 to 1, text}), in order; what is
   * left of 1 stays blank (conversations still going, or ended by an outcome counted
   * elsewhere). Each part carries its text as a tooltip; the caller writes it out too.
   */
  function shares(parts) {
    var width = 120;
    var bar = svgNode("svg", {
      class: "chart__shares", viewBox: "0 0 " + width + " 10", width: width, height: 10,
      role: "img"
    });
    bar.appendChild(svgNode("rect", { class: "chart__shares-track", x: 0, y: 0,
      width: width, height: 10 }));
    var x = 0;
    parts.forEach(function (part) {
      var size = Math.max(0, Math.min(width - x, (part.share || 0) * width));
      var rect = svgNode("rect", { class: "chart__share chart__share--" + part.kind, x: x, y: 0,
        width: size, height: 10 });
      rect.appendChild(svgNode("title", {}, part.text));
      bar.appendChild(rect);
      x += size;
    });
    bar.setAttribute("aria-label", parts.map(function (part) { return part.text; }).join(", "));
    return bar;
  }

  window.StaffCharts = { plot: plot, shares: shares };
})();
