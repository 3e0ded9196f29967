// Renders the OpenAPI document as a reference page. Served from the
// binary: no CDN, no framework.
(function () {
  "use strict";
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (kids || []).forEach(function (k) { e.appendChild(typeof k === "string" ? document.createTextNode(k) : k); });
    return e;
  }
  function resolve(doc, o) {
    while (o && o.$ref) {
      o = o.$ref.replace(/^#\//, "").split("/").reduce(function (a, k) { return a && a[k]; }, doc);
    }
    return o || {};
  }
  function refName(o) { return o && o.$ref ? o.$ref.split("/").pop() : ""; }
  function schemaText(doc, s) {
    if (!s) return "";
    if (s.$ref) return refName(s);
    if (s.oneOf) return s.oneOf.map(function (x) { return schemaText(doc, x); }).join(" | ");
    var t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || "any");
    if (s.enum) t += " (" + s.enum.join(", ") + ")";
    if (s.items) t += " of " + schemaText(doc, s.items);
    return t;
  }
  fetch("/api/v1/openapi.json").then(function (r) { return r.json(); }).then(function (doc) {
    document.getElementById("desc").textContent = doc.info.description || "";
    var ops = document.getElementById("ops"), toc = document.getElementById("toc");
    ops.textContent = "";
    Object.keys(doc.paths).forEach(function (path) {
      var item = doc.paths[path];
      ["get", "head", "post", "put", "patch", "delete"].forEach(function (m) {
        var op = item[m];
        if (!op) return;
        var id = op.operationId || (m + path);
        toc.appendChild(el("a", { href: "#" + id }, [m.toUpperCase() + " " + path]));
        var box = el("section", { "class": "op", id: id }, [
          el("h3", {}, [el("span", { "class": "m " + m }, [m]), el("code", {}, [path]), " — " + (op.summary || "")])]);
        if (op.description) box.appendChild(el("p", {}, [op.description]));
        var params = (op.parameters || []).map(function (p) { return resolve(doc, p); });
        if (params.length) {
          var t = el("table", {}, [el("tr", {}, [el("th", {}, ["param"]), el("th", {}, ["in"]), el("th", {}, ["schema"]), el("th", {}, ["meaning"])])]);
          params.forEach(function (p) {
            t.appendChild(el("tr", {}, [el("td", {}, [el("code", {}, [p.name]), p.required ? " (required)" : ""]),
              el("td", {}, [p.in]), el("td", {}, [schemaText(doc, p.schema)]), el("td", {}, [p.description || ""])]));
          });
          box.appendChild(t);
        }
        if (op.requestBody) {
          var c = op.requestBody.content || {};
          Object.keys(c).forEach(function (ct) { box.appendChild(el("p", {}, ["Body (" + ct + "): ", el("code", {}, [schemaText(doc, c[ct].schema)])])); });
        }
        var rt = el("table", {}, [el("tr", {}, [el("th", {}, ["status"]), el("th", {}, ["meaning"]), el("th", {}, ["body"])])]);
        Object.keys(op.responses || {}).forEach(function (code) {
          var r = resolve(doc, op.responses[code]), body = Object.keys(r.content || {}).map(function (ct) {
            return ct + ": " + schemaText(doc, r.content[ct].schema);
          }).join("; ");
          rt.appendChild(el("tr", {}, [el("td", {}, [code]), el("td", {}, [r.description || ""]), el("td", {}, [body])]));
        });
        box.appendChild(rt);
        ops.appendChild(box);
      });
    });
    ops.appendChild(el("h2", {}, ["Schemas"]));
    Object.keys(doc.components.schemas).forEach(function (name) {
      var s = doc.components.schemas[name];
      var box = el("section", { "class": "op", id: "schema-" + name }, [el("h3", {}, [name])]);
      if (s.description) box.appendChild(el("p", {}, [s.description]));
      if (s.properties) {
        var t = el("table", {}, [el("tr", {}, [el("th", {}, ["property"]), el("th", {}, ["schema"]), el("th", {}, ["meaning"])])]);
        Object.keys(s.properties).forEach(function (p) {
          var ps = s.properties[p];
          t.appendChild(el("tr", {}, [el("td", {}, [el("code", {}, [p]), (s.required || []).indexOf(p) >= 0 ? " (required)" : ""]),
            el("td", {}, [schemaText(doc, ps)]), el("td", {}, [ps.description || ""])]));
        });
        box.appendChild(t);
      } else {
        box.appendChild(el("p", {}, [el("code", {}, [schemaText(doc, s)])]));
      }
      ops.appendChild(box);
    });
  }).catch(function (e) { document.getElementById("ops").textContent = "Could not load the document: " + e; });
})();
