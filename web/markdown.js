// Safe rendering of Markdown and Human/Assistant dialogues into DOM nodes. Text is only ever put
// into the page as text nodes (never parsed as HTML), so markup or scripts inside prompts and
// responses show up as the characters they are and cannot run.
"use strict";

(function (global) {
  // Inline spans: `code`, **bold**, *em* / _em_, [text](url) shown as "text (url)".
  function renderInline(text, parent) {
    // Underscore emphasis only at word boundaries (snake_case and __names__ stay as they are).
    const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|((?<![\w_])_[^_\s][^_]*_(?![\w_]))|(\[[^\]]+\]\([^)\s]+\))/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const tok = m[0];
      let el;
      if (m[1]) {
        el = document.createElement("code");
        el.textContent = tok.slice(1, -1);
      } else if (m[2]) {
        el = document.createElement("strong");
        renderInline(tok.slice(2, -2), el);
      } else if (m[3] || m[4]) {
        el = document.createElement("em");
        renderInline(tok.slice(1, -1), el);
      } else {
        const close = tok.indexOf("](");
        el = document.createElement("span");
        el.className = "md-link";
        el.textContent = tok.slice(1, close) + " (" + tok.slice(close + 2, -1) + ")";
      }
      parent.appendChild(el);
      last = m.index + tok.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // Block structure: fenced code, headings, lists, quotes, paragraphs.
  function renderMarkdown(text, container) {
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length) {
        const p = document.createElement("p");
        para.forEach((l, k) => {
          if (k) p.appendChild(document.createElement("br"));
          renderInline(l, p);
        });
        container.appendChild(p);
        para = [];
      }
    };
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)\s*$/);
      if (fence) {
        flush();
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
        i++;
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        if (fence[2]) code.dataset.lang = fence[2];
        code.textContent = body.join("\n");
        pre.appendChild(code);
        container.appendChild(pre);
        continue;
      }
      const h = line.match(/^(#{1,6})\s+(.*)$/);
      if (h) {
        flush();
        const el = document.createElement("h" + Math.min(6, h[1].length + 2));
        renderInline(h[2], el);
        container.appendChild(el);
        i++;
        continue;
      }
      const li = line.match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
      if (li) {
        flush();
        const ordered = /\d/.test(li[1]);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length) {
          const m = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
          if (!m || /\d/.test(m[1]) !== ordered) break;
          const item = document.createElement("li");
          renderInline(m[2], item);
          list.appendChild(item);
          i++;
        }
        container.appendChild(list);
        continue;
      }
      if (/^\s*>/.test(line)) {
        flush();
        const q = document.createElement("blockquote");
        const body = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
        renderMarkdown(body.join("\n"), q);
        container.appendChild(q);
        continue;
      }
      if (line.trim() === "") {
        flush();
      } else {
        para.push(line);
      }
      i++;
    }
    flush();
  }

  // "\n\nHuman: ...\n\nAssistant: ..." -> [{role, text}]; text without markers is one user turn.
  function splitDialogue(prompt) {
    const re = /(?:^|\n\n)(Human|Assistant|System):[ ]?/g;
    const turns = [];
    let m;
    let prev = null;
    let prevEnd = 0;
    while ((m = re.exec(prompt)) !== null) {
      if (prev) turns.push({ role: prev, text: prompt.slice(prevEnd, m.index) });
      else if (m.index > 0 && prompt.slice(0, m.index).trim()) turns.push({ role: "Human", text: prompt.slice(0, m.index) });
      prev = m[1];
      prevEnd = m.index + m[0].length;
    }
    if (prev) turns.push({ role: prev, text: prompt.slice(prevEnd) });
    else turns.push({ role: "Human", text: prompt });
    return turns.filter((t, k) => !(k === turns.length - 1 && t.role === "Assistant" && t.text.trim() === ""));
  }

  function renderDialogue(prompt, container) {
    for (const turn of splitDialogue(prompt)) {
      const div = document.createElement("div");
      div.className = "turn turn-" + turn.role.toLowerCase();
      const who = document.createElement("div");
      who.className = "turn-role";
      who.textContent = turn.role === "Human" ? "User" : turn.role;
      div.appendChild(who);
      const body = document.createElement("div");
      body.className = "turn-body";
      renderMarkdown(turn.text.trim(), body);
      div.appendChild(body);
      container.appendChild(div);
    }
  }

  global.RlhfMarkdown = { renderMarkdown, renderInline, renderDialogue, splitDialogue };
})(window);
