// gradviz HTML player: steps through one backward call on a finished drawing, without network.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("steps-data").textContent);
  var total = data.where.length;
  var slider = document.getElementById("step");
  var label = document.getElementById("step-label");
  var panel = document.getElementById("panel");
  var viewport = document.getElementById("viewport");
  var source = document.getElementById("source");
  var levelLabel = document.getElementById("level");
  var levels = data.levels || [];
  var playButton = document.getElementById("play");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-step]"));
  var ledgerRows = Array.prototype.slice.call(document.querySelectorAll("[data-reveal]"));
  var atEnd = Array.prototype.slice.call(document.querySelectorAll(".at-end, #steps tr:not([data-step]):not(:has(th))"));
  var ANSWER = /^(v in|grad:|grad in |\S+\.grad |\.grad: None|J to |\s+\[)/;
  var lines = {};
  document.querySelectorAll("[data-loc]").forEach(function (line) { lines[line.dataset.loc] = line; });
  var views = {};
  document.querySelectorAll(".drawing").forEach(function (div) {
    var svg = div.querySelector("svg"), drawn = {};
    div.querySelectorAll("g.node, g.edge").forEach(function (g) {
      var title = g.querySelector("title");
      if (title) { drawn[title.textContent] = g; }
      // Values a node or edge gets from backward stay hidden until it runs, not to give the answer away.
      g.querySelectorAll("text").forEach(function (t) {
        if (g.classList.contains("edge") || (title && title.textContent === "jacobian") || ANSWER.test(t.textContent)) {
          t.classList.add("answer");
        }
      });
    });
    var box = svg && svg.viewBox && svg.viewBox.baseVal;
    views[div.dataset.view] = {
      div: div, svg: svg, drawn: drawn, data: data.views[div.dataset.view],
      width: box ? box.width * 4 / 3 : 0, height: box ? box.height * 4 / 3 : 0
    };
  });
  // The scale at which the smallest text in the drawing is over 14 px, readable on a projector (1 pt = 4/3 px).
  function readable(svg) {
    var smallest = Infinity;
    svg.querySelectorAll("text[font-size]").forEach(function (t) {
      smallest = Math.min(smallest, parseFloat(t.getAttribute("font-size")) * 4 / 3);
    });
    return smallest === Infinity ? 1 : Math.max(1, Math.min(2, 14.5 / smallest));
  }
  var shown = document.querySelector(".drawing:not([hidden])");
  var state = { step: 0, view: shown ? shown.dataset.view : null, scale: 1, timer: null, drag: null };

  function text(tag, content, cls) {
    var e = document.createElement(tag);
    e.textContent = content;
    if (cls) { e.className = cls; }
    return e;
  }

  function restyle(k) {
    var view = views[state.view];
    if (!view) { return null; }
    Object.keys(view.drawn).forEach(function (name) {
      var g = view.drawn[name], first = view.data.first[name];
      g.classList.remove("pending", "waiting", "current", "raised-here");
      if (first !== undefined && first > k) {
        // the whole-call panel is no node of the graph: it waits, faint, for the last step
        g.classList.add(g.classList.contains("edge") || name === "jacobian" ? "waiting" : "pending");
      }
    });
    var here = k > 0 ? view.data.elements[k - 1] : null;
    if (here && view.drawn[here]) { view.drawn[here].classList.add("current"); }
    var raised = data.raised && data.raised[state.view];
    if (k === total && raised && view.drawn[raised]) { view.drawn[raised].classList.add("raised-here"); }
    var next = view.data.elements[Math.min(k, total - 1)];
    return view.drawn[here] || view.drawn[next] || null;
  }

  function reveal(element) {
    if (!element) { return; }
    var r = element.getBoundingClientRect(), p = viewport.getBoundingClientRect(), margin = 24;
    if (r.left < p.left + margin || r.right > p.right - margin ||
        r.top < p.top + margin || r.bottom > p.bottom - margin) {
      viewport.scrollLeft += (r.left + r.width / 2) - (p.left + p.width / 2);
      viewport.scrollTop += (r.top + r.height / 2) - (p.top + p.height / 2);
    }
  }

  function showSource(k) {
    if (!source) { return; }
    Object.keys(lines).forEach(function (loc) { lines[loc].classList.remove("here"); });
    var line = lines[k > 0 ? data.where[k - 1] : data.start];
    if (line) {
      line.classList.add("here");
      source.scrollTop = line.offsetTop - source.clientHeight / 2;
    }
  }

  function fillPanel(k) {
    panel.replaceChildren();
    if (k === 0) {
      panel.appendChild(text("h3", "Before backward"));
      panel.appendChild(text("p", "No node has run yet. Press next (n or \u2192) to run the first step."));
      return;
    }
    var cells = rows[k - 1].cells;
    panel.appendChild(text("h3", "step " + k + ": " + cells[1].textContent));
    if (cells[2].textContent) { panel.appendChild(text("p", "created at " + cells[2].textContent)); }
    [["v in (grad_outputs)", cells[3]], ["vJ out (grad_inputs)", cells[4]]].forEach(function (part) {
      panel.appendChild(text("b", part[0]));
      var values = text("p", "", "v");
      values.innerHTML = part[1].innerHTML;
      panel.appendChild(values);
    });
    [["local J", cells[5]], ["", cells[6]]].forEach(function (part) {
      if (!part[1] || !part[1].textContent) { return; }
      if (part[0]) { panel.appendChild(text("b", part[0])); }
      var more = text("div", "", "v");
      more.innerHTML = part[1].innerHTML;
      panel.appendChild(more);
    });
    // What this step did to the ledger (a leaf's .grad filled or added into), beside the step.
    var fresh = ledgerRows.filter(function (row) {
      return Number(row.dataset.reveal) === k && row.closest("table.events");
    });
    if (fresh.length) {
      panel.appendChild(text("b", "ledger"));
      fresh.forEach(function (row) {
        var cells = row.cells;
        panel.appendChild(text("p", "line " + cells[0].textContent + ", " + cells[1].textContent + ": " +
          cells[2].textContent + " " + cells[3].textContent, "v"));
      });
    }
    if (k === total) {
      var whole = document.getElementById("whole-call");
      if (whole) {
        var copy = panel.appendChild(whole.cloneNode(true));
        copy.removeAttribute("id");
        copy.classList.remove("at-end");
        copy.hidden = false;
      }
      var failure = document.getElementById("failure");
      if (failure) { panel.appendChild(failure.cloneNode(true)).removeAttribute("id"); }
    }
  }

  function go(k) {
    k = Math.max(0, Math.min(total, k));
    state.step = k;
    slider.value = String(k);
    rows.forEach(function (row) {
      var s = Number(row.dataset.step);
      row.hidden = s > k;
      row.className = s === k ? "current" : (s < k ? "done" : "");
    });
    atEnd.forEach(function (e) { e.hidden = k < total; });
    // Ledger rows show from their step on; the ones this step revealed are marked.
    ledgerRows.forEach(function (row) {
      var s = Number(row.dataset.reveal);
      row.hidden = s > k;
      row.classList.toggle("new", s === k && k > 0);
    });
    label.textContent = k === 0 ? "before backward (" + total + (total === 1 ? " step)" : " steps)")
      : "step " + k + " of " + total;
    fillPanel(k);
    showSource(k);
    reveal(restyle(k));
    if (k >= total) { stop(); }
  }

  function stop() {
    if (state.timer !== null) { clearInterval(state.timer); state.timer = null; }
    if (playButton) { playButton.textContent = "\u25B6 play"; }
  }

  function play() {
    if (state.timer !== null) { stop(); return; }
    if (state.step >= total) { go(0); }
    playButton.textContent = "\u2016 pause";
    state.timer = setInterval(function () { go(state.step + 1); }, 1200);
  }

  function zoom(scale, cx, cy) {
    var view = views[state.view];
    if (!view || !view.svg) { return; }
    scale = Math.max(0.05, Math.min(4, scale));
    if (cx === undefined) { cx = viewport.clientWidth / 2; cy = viewport.clientHeight / 2; }
    var x = (viewport.scrollLeft + cx) / state.scale, y = (viewport.scrollTop + cy) / state.scale;
    state.scale = scale;
    view.svg.style.width = view.width * scale + "px";
    view.svg.style.height = view.height * scale + "px";
    viewport.scrollLeft = x * scale - cx;
    viewport.scrollTop = y * scale - cy;
  }

  function fit() {
    var view = views[state.view];
    if (!view || !view.width) { return; }
    zoom(Math.min(viewport.clientWidth / view.width, viewport.clientHeight / view.height));
  }

  // Which element of a view stands for a node: the node itself, or the module box that holds it.
  function elementOf(name, node) {
    return name === "full" ? "n" + node : (data.owner[name] || [])[node] || null;
  }

  function nodesOf(name, element) {
    if (name === "full") { return [Number(element.slice(1))]; }
    var nodes = [];
    (data.owner[name] || []).forEach(function (owner, node) { if (owner === element) { nodes.push(node); } });
    return nodes;
  }

  function showLevel() {
    if (!levelLabel) { return; }
    var at = state.view === "full" ? "every node" : "modules at depth " + state.view.slice(5);
    levelLabel.textContent = at + " (" + (levels.indexOf(state.view) + 1) + "/" + levels.length + ")";
  }

  // Show another view, marking the elements that hold the nodes of `element` in the view left.
  function switchView(name, element) {
    if (!views[name] || name === state.view) { return; }
    var from = state.view;
    element = element || (state.step > 0 ? views[from].data.elements[state.step - 1] : null);
    Object.keys(views).forEach(function (n) { views[n].div.hidden = n !== name; });
    state.view = name;
    zoom(state.scale);
    var current = restyle(state.step);
    var view = views[name], focus = {};
    Object.keys(view.drawn).forEach(function (n) { view.drawn[n].classList.remove("focus"); });
    if (element) {
      nodesOf(from, element).forEach(function (node) {
        var e = elementOf(name, node);
        if (e && view.drawn[e]) { focus[e] = view.drawn[e]; }
      });
    }
    var marked = Object.keys(focus).map(function (e) { focus[e].classList.add("focus"); return focus[e]; });
    showLevel();
    reveal(marked[0] || current);
  }

  function changeLevel(direction, element) {
    var next = levels[levels.indexOf(state.view) + direction];
    if (next) { switchView(next, element); }
  }

  // A click on a box expands it; a click in the finest view collapses back.
  function clicked(title) {
    if (levels.indexOf(state.view) < levels.length - 1) { changeLevel(1, title); } else { changeLevel(-1, title); }
  }

  var actions = {
    next: function () { stop(); go(state.step + 1); },
    back: function () { stop(); go(state.step - 1); },
    first: function () { stop(); go(0); },
    last: function () { stop(); go(total); },
    play: play,
    "zoom-in": function () { zoom(state.scale * 1.25); },
    "zoom-out": function () { zoom(state.scale / 1.25); },
    fit: fit,
    actual: function () { zoom(readableScale()); reveal(restyle(state.step)); },
    expand: function () { changeLevel(1); },
    collapse: function () { changeLevel(-1); }
  };
  document.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () { actions[button.dataset.action](); button.blur(); });
  });
  var keys = {
    ArrowRight: "next", n: "next", ArrowLeft: "back", p: "back", " ": "play", Home: "first", End: "last",
    "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", f: "fit", "0": "actual", e: "expand", c: "collapse"
  };
  document.addEventListener("keydown", function (event) {
    var name = keys[event.key];
    if (!name || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if ((name === "expand" || name === "collapse") && levels.length < 2) { return; }
    event.preventDefault();
    actions[name]();
  });
  slider.addEventListener("input", function () { stop(); go(Number(slider.value)); });

  viewport.addEventListener("wheel", function (event) {
    event.preventDefault();
    var p = viewport.getBoundingClientRect();
    zoom(state.scale * Math.exp(-event.deltaY * 0.0015), event.clientX - p.left, event.clientY - p.top);
  }, { passive: false });
  viewport.addEventListener("pointerdown", function (event) {
    state.drag = { x: event.clientX, y: event.clientY, left: viewport.scrollLeft, top: viewport.scrollTop,
      moved: false };
  });
  window.addEventListener("pointermove", function (event) {
    var drag = state.drag;
    if (!drag) { return; }
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { drag.moved = true; viewport.classList.add("dragging"); }
    viewport.scrollLeft = drag.left - dx;
    viewport.scrollTop = drag.top - dy;
  });
  window.addEventListener("pointerup", function () {
    viewport.classList.remove("dragging");
    setTimeout(function () { state.drag = null; }, 0);
  });
  viewport.addEventListener("click", function (event) {
    if (state.drag && state.drag.moved) { return; }
    var g = event.target.closest && event.target.closest("g.node");
    var title = g && g.querySelector("title");
    if (title && levels.length > 1) { clicked(title.textContent); }
  });

  function readableScale() {
    var view = views[state.view];
    return view && view.svg ? readable(view.svg) : 1;
  }
  zoom(readableScale(), 0, 0);
  showLevel();
  go(0);
})();
