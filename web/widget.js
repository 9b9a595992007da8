/* Web chat for the Klonopin FAQ assistant. Plain JS, no build step.
 *
 * Talks to Rasa's REST channel: POST {rasa}/webhooks/rest/webhook with
 * {"sender", "message"}; the reply is a list of {"text", "buttons"}.
 * The Rasa URL is server-side configuration only: it comes from /config.json
 * ({"rasa": "..."}, set with web/server.py --rasa-url), and is
 * http://localhost:5005 if that cannot be loaded. /config.json's "max_message_chars" is the
 * longest message the Rasa server reads (MAX_MESSAGE_CHARS, 2000 if not given): the input
 * counts toward it and says so when it is reached, rather than cutting the text. A ?rasa= parameter in the page's
 * URL is ignored on purpose: a crafted link must not be able to make this page show
 * another server's answers under our name. (The page's Content-Security-Policy also
 * lets fetch() reach only the configured origin.)
 *
 * Every text it shows comes from the page: web/server.py puts knowledge/web.yml's widget texts
 * and knowledge/helplines.yml's lines in a JSON data block (#kf-data), so this file holds no
 * sentence and no phone number. /helplines.json then refreshes the lines; if it cannot be
 * fetched, the page's own lines (those of its server-rendered help bar) stay.
 *
 * Safety rule for this file: text from the assistant or the person is only ever
 * put into the page with textContent / text nodes, never as HTML.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 10000;              // no answer by then: say so, show the helplines
  var STORAGE_KEY = "klonopin-faq-chat";
  var MAX_STORED = 200;                // messages kept in localStorage
  var DEFAULT_RASA = "http://localhost:5005";  // only if /config.json cannot be loaded
  var DEFAULT_MAX_CHARS = 2000;        // channels/door.py's default, if /config.json does not say

  var data = pageData();
  var texts = (data && data.texts) || null;   // null: not rendered by web/server.py, no widget
  var helplines = cleanHelplines(data) || [];  // replaced by /helplines.json
  var rasa = DEFAULT_RASA;                // replaced by /config.json's "rasa", never by the page URL
  var maxChars = DEFAULT_MAX_CHARS;       // replaced by /config.json's "max_message_chars"
  var state = { sender: "", messages: [], open: false };
  var ui = {};
  var queue = Promise.resolve();
  var pending = 0;

  // ---------- small helpers ----------

  /** What web/server.py put in the page: {"texts": {...}, "helplines": [...]}, or null. */
  function pageData() {
    var block = document.getElementById("kf-data");
    try {
      return JSON.parse(block ? block.textContent : "null");
    } catch (e) {
      return null;  // an unrendered template
    }
  }

  /** A text of knowledge/web.yml with its {placeholders} filled from `values`. */
  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (slot, name) {
      return Object.prototype.hasOwnProperty.call(values || {}, name) ? String(values[name]) : slot;
    });
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /** Creates an element. Children that are strings become text nodes (never HTML). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.append(child);
    });
    return node;
  }

  function visuallyHidden(text) {
    return el("span", { class: "kf-vh", text: text });
  }

  /** An http(s) URL without a trailing slash, or null. */
  function cleanRasaUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href.replace(/\/+$/, "");
    } catch (e) { /* not a URL */ }
    return null;
  }

  function rasaBase() {
    return rasa;
  }

  function newSenderId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // ---------- storage (history and sender id survive a reload) ----------

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
      if (saved && typeof saved.sender === "string" && Array.isArray(saved.messages)) {
        state.sender = saved.sender;
        state.messages = saved.messages.filter(function (m) { return m && typeof m.from === "string"; });
        state.open = saved.open === true;
      }
    } catch (e) { /* unreadable or blocked storage: start fresh */ }
    if (!state.sender) state.sender = newSenderId();
  }

  function save() {
    state.messages = state.messages.slice(-MAX_STORED);
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) { /* storage full or blocked: the chat still works, it just won't survive a reload */ }
  }

  // ---------- configuration (the Rasa address, from the server that serves this page) ----------

  /** GET a JSON file from the server that serves this page, giving up after 5 seconds. */
  function fetchJson(path) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 5000);
    return fetch(path, { signal: controller.signal, cache: "no-cache" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .finally(function () { clearTimeout(timer); });
  }

  function loadConfig() {
    return fetchJson("config.json")
      .then(function (data) {
        var url = cleanRasaUrl(data && data.rasa);
        if (url) rasa = url;
        var limit = data && data.max_message_chars;
        if (typeof limit === "number" && limit >= 1 && limit === Math.floor(limit)) maxChars = limit;
      })
      .catch(function () { /* keep DEFAULT_RASA */ });
  }

  // ---------- helplines ----------

  function cleanHelplines(data) {
    if (!data || !Array.isArray(data.helplines)) return null;
    var lines = data.helplines.filter(function (h) {
      return h && typeof h.name === "string" && typeof h.number === "string" &&
        /^[0-9+*#]*$/.test(h.call || "") && /^[0-9+*#]*$/.test(h.text || "") && (h.call || h.text);
    });
    return lines.length ? lines : null;
  }

  function loadHelplines() {
    return fetchJson("helplines.json")
      .then(function (data) {
        var lines = cleanHelplines(data);
        if (lines) { helplines = lines; renderHelpbar(); }
      })
      .catch(function () { /* keep the page's lines and its server-rendered bar */ });
  }

  /** "Call 911" / "Text 988" links. The accessible name starts with the visible text and then
   *  names the line ("Call 911, Emergency services"), so a voice-control user can say what
   *  they see (WCAG 2.5.3, axe-core's label-content-name-mismatch). */
  function callLinks(line) {
    var links = [];
    if (line.call) {
      links.push(el("a", { href: "tel:" + line.call, class: "kf-call",
        "aria-label": fill(texts.links.call_name, line) }, [fill(texts.links.call, line)]));
    }
    if (line.text) {
      links.push(el("a", { href: "sms:" + line.text, class: "kf-call",
        "aria-label": fill(texts.links.text_name, line) }, [fill(texts.links.text, line)]));
    }
    return links;
  }

  function renderHelpbar() {
    var list = document.querySelector("#kf-helpbar .kf-helpbar-lines");
    if (!list) return;
    // Someone may already have tabbed into the static bar: keep their focus on the same link.
    var focused = list.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    list.replaceChildren.apply(list, helplines.map(function (line) {
      var children = [el("span", { class: "kf-line-name", text: line.name })];
      callLinks(line).forEach(function (a) { children.push(" ", a); });
      return el("li", { class: "kf-line" }, children);
    }));
    if (focused) {
      var same = Array.prototype.find.call(list.querySelectorAll("a"), function (a) { return a.getAttribute("href") === focused; });
      (same || list.querySelector("a") || document.body).focus();
    }
  }

  /** Known helpline numbers inside a text become tel: links; everything else stays text. For a
   *  line that takes texts (988) a "Text 988" sms: link follows the paragraph, once, so the
   *  sentence itself reads as written ("call or text 988."). Each accessible name starts with
   *  the visible text ("988, call 988 Suicide & Crisis Lifeline"; WCAG 2.5.3). Numbers whose
   *  dial string is in `skip` stay text (a crisis card already has a large button for them). */
  function linkify(text, skip) {
    var byNumber = {};
    helplines.forEach(function (h) { if (h.call && !(skip && skip[h.call])) byNumber[h.number] = h; });
    var numbers = Object.keys(byNumber).sort(function (a, b) { return b.length - a.length; });
    if (!numbers.length) return [text];
    var pattern = new RegExp("(?<![\\w-])(" + numbers.map(escapeRegExp).join("|") + ")(?![\\w-])", "g");
    var parts = [];
    var texting = [];
    var last = 0;
    text.replace(pattern, function (match, number, offset) {
      var line = byNumber[number];
      // "988 Suicide & Crisis Lifeline": a number that starts the line's own name is the name.
      if (text.substr(offset, line.name.length) === line.name && line.name !== number) return match;
      if (offset > last) parts.push(text.slice(last, offset));
      parts.push(el("a", { href: "tel:" + line.call, class: "kf-tel", "aria-label": fill(texts.links.number_name, line) }, [number]));
      if (line.text && texting.indexOf(line) === -1) texting.push(line);
      last = offset + match.length;
      return match;
    });
    if (last < text.length) parts.push(text.slice(last));
    texting.forEach(function (line) {
      parts.push(" ", el("a", { href: "sms:" + line.text, class: "kf-tel kf-tel-text",
        "aria-label": fill(texts.links.text_name, line) }, [fill(texts.links.text, line)]));
    });
    return parts;
  }

  // ---------- rendering messages ----------

  /** "^(Source|Sources):\s*(.*)$", from the labels of knowledge/messages.yml. */
  function sourcesLine() {
    var labels = (texts.source_labels || []).map(escapeRegExp);
    return new RegExp("^(" + (labels.join("|") || "(?!)") + "):\\s*(.*)$");
  }

  /** Paragraphs, "- " bullet lists and the sources line, as DOM nodes. */
  function renderText(text, skip) {
    var nodes = [];
    var list = null;
    String(text).split("\n").forEach(function (raw) {
      var line = raw.trim();
      if (/^[-•*]\s+/.test(line)) {
        if (!list) { list = el("ul", { class: "kf-list" }); nodes.push(list); }
        list.append(el("li", {}, linkify(line.replace(/^[-•*]\s+/, ""), skip)));
        return;
      }
      list = null;
      if (!line) return;
      var sources = sourcesLine().exec(line);
      if (sources) {
        nodes.push(el("p", { class: "kf-sources" }, [el("strong", { text: sources[1] + ":" }), " "].concat(linkify(sources[2], skip))));
      } else {
        nodes.push(el("p", {}, linkify(line, skip)));
      }
    });
    return nodes;
  }

  // ---------- crisis card ----------
  // The crisis replies in domain.yml carry buttons whose payloads are "tel:988" or "sms:988".
  // Such a payload is a phone action, never a message: it is never sent to the assistant.

  var CONTACT_PAYLOAD = /^\s*(tel|sms):/i;           // any tel:/sms: payload, well-formed or not
  var DIAL_PAYLOAD = /^\s*(tel|sms):(\+?[0-9]+)\s*$/i; // the only ones that become links

  function isContact(button) {
    return CONTACT_PAYLOAD.test(button.payload);
  }

  /** The crisis card's Call/Text links. A payload that is not tel:/sms: with digits (and an
   *  optional leading +) is dropped rather than linked: the numbers are in the reply's text too. */
  function crisisLinks(buttons) {
    var links = [];
    var dialled = {};
    buttons.forEach(function (b) {
      var dial = DIAL_PAYLOAD.exec(b.payload);
      if (!dial) return;
      var scheme = dial[1].toLowerCase();
      var number = dial[2];
      var line = helplines.find(function (h) { return h.call === number || h.text === number; });
      var shown = line ? line.number : number;
      var title = b.title.trim() || fill(scheme === "sms" ? texts.links.text : texts.links.call, { number: shown });
      var children = [title];
      // "Call Poison Help": show the number too, for someone who has to dial it on another phone.
      if (title.replace(/[^0-9]/g, "").indexOf(number.replace(/[^0-9]/g, "")) === -1) {
        children.push(" ", el("span", { class: "kf-crisis-number", text: shown }));
      }
      if (scheme === "tel") dialled[number] = true;
      // Name from content: the visible text is the whole accessible name.
      links.push(el("a", { href: scheme + ":" + number,
        class: "kf-crisis-link " + (scheme === "sms" ? "kf-crisis-sms" : "kf-crisis-tel") }, children));
    });
    return { links: links, dialled: dialled };
  }

  /** A reply with tel:/sms: buttons, shown as a crisis card: a heading, the text, large Call and
   *  Text links, then the reply's other buttons as ordinary suggestions.
   *  Announced once, by the conversation log (role="log", aria-live="polite") it is added to,
   *  heading first. The card has no live role of its own on purpose: role="alert" inside the log
   *  would be read twice (as an alert and as a log addition), and again after every reload, when
   *  the stored conversation is rendered. Polite is enough: the person has just sent a message
   *  and is waiting for this answer, so it is read next, without cutting off anything else. */
  function crisisCard(message, buttons) {
    var contact = crisisLinks(buttons.filter(isContact));
    var children = [
      visuallyHidden(texts.assistant),
      el("h3", { class: "kf-crisis-title" }, [el("span", { class: "kf-crisis-icon", "aria-hidden": "true", text: "!" }),
        texts.crisis_title])
    ].concat(renderText(message.text || "", contact.dialled));
    if (contact.links.length) children.push(el("div", { class: "kf-crisis-actions" }, contact.links));
    children.push(suggestionButtons(buttons.filter(function (b) { return !isContact(b); })));
    return el("div", { class: "kf-msg kf-bot kf-crisis" }, children);
  }

  function suggestionButtons(buttons) {
    buttons = (buttons || []).filter(function (b) { return !isContact(b); });  // never send a phone action
    if (!buttons.length) return null;
    return el("div", { class: "kf-buttons", role: "group", "aria-label": texts.suggestions_label },
      buttons.map(function (b) {
        return el("button", { type: "button", class: "kf-suggestion", onclick: function () {
          send(b.payload, b.title);
          ui.input.focus();
        } }, [b.title]);
      }));
  }

  function helplineList() {
    return el("ul", { class: "kf-help-list" }, helplines.map(function (line) {
      var children = [el("strong", { text: line.name })];
      callLinks(line).forEach(function (a) { children.push(" ", a); });
      if (line.about) children.push(el("span", { class: "kf-about", text: line.about }));
      return el("li", {}, children);
    }));
  }

  function renderMessage(message) {
    if (message.from === "user") {
      return el("div", { class: "kf-msg kf-user" }, [visuallyHidden(texts.you), el("p", { text: message.text })]);
    }
    if (message.from === "notice") {
      return el("div", { class: "kf-msg kf-notice" }, [
        el("p", { class: "kf-notice-title" }, [notice(message.reason)]),
        el("p", { text: texts.notice_help }),
        helplineList(),
        message.retry ? el("button", { type: "button", class: "kf-retry", onclick: function () {
          send(message.retry, message.retryShown);
          ui.input.focus();
        } }, [texts.retry]) : null
      ]);
    }
    var buttons = cleanButtons(message.buttons);  // stored messages are read back from localStorage
    if (buttons.some(isContact)) return crisisCard(message, buttons);
    var children = [visuallyHidden(texts.assistant)].concat(renderText(message.text || ""));
    children.push(suggestionButtons(buttons));
    return el("div", { class: "kf-msg kf-bot" }, children);
  }

  /** Why there is no answer: "timeout", "error" or "empty" (web.yml's widget texts). */
  function notice(reason) {
    var key = reason === "timeout" || reason === "empty" ? reason : "error";
    return fill(texts[key], { seconds: TIMEOUT_MS / 1000 });
  }

  function renderIntro() {
    return el("div", { class: "kf-msg kf-bot kf-intro" }, [visuallyHidden(texts.assistant)].concat(
      texts.intro.map(function (paragraph) { return el("p", { text: paragraph }); }),
      [el("div", { class: "kf-buttons", role: "group", "aria-label": texts.examples_label }, texts.examples.map(function (q) {
        return el("button", { type: "button", class: "kf-suggestion", onclick: function () { send(q); ui.input.focus(); } }, [q]);
      }))]));
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function addMessage(message) {
    state.messages.push(message);
    save();
    var intro = ui.log.querySelector(".kf-intro");
    if (intro) intro.remove();
    var node = renderMessage(message);
    ui.log.append(node);
    // A long answer is read from its first line, not its last.
    if (message.from !== "user" && node.offsetHeight > ui.log.clientHeight - 40) {
      ui.log.scrollTop = node.offsetTop - ui.log.offsetTop - 12;
    } else {
      scrollToEnd();
    }
  }

  // ---------- talking to Rasa ----------

  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons.filter(function (b) { return b && typeof b.title === "string" && typeof b.payload === "string"; })
      .map(function (b) { return { title: b.title, payload: b.payload }; });
  }

  function post(message) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    return fetch(ui.webhook, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: state.sender, message: message }),
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (replies) {
      clearTimeout(timer);
      return Array.isArray(replies) ? replies : [];
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  function setTyping(on) {
    ui.typing.replaceChildren();
    ui.typing.classList.toggle("kf-typing-on", on);
    if (on) {
      ui.typing.append(el("span", { class: "kf-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
        el("span", { class: "kf-vh", text: texts.typing }));
      scrollToEnd();
    }
  }

  function exchange(message, shown) {
    pending += 1;
    setTyping(true);
    return post(message).then(function (replies) {
      var usable = replies.filter(function (r) {
        return r && ((typeof r.text === "string" && r.text.trim()) || cleanButtons(r.buttons).length);
      });
      if (!usable.length) {
        addMessage({ from: "notice", reason: "empty" });
        return;
      }
      // Rasa's REST channel sends each paragraph as its own message (answer, "Sources: ...",
      // where to get help); they read best as one bubble. Buttons end a bubble, and a crisis
      // reply (tel:/sms: buttons) starts its own: the card holds only the crisis message.
      var texts = [];
      usable.forEach(function (r, i) {
        var buttons = cleanButtons(r.buttons);
        if (texts.length && buttons.some(isContact)) {
          addMessage({ from: "bot", text: texts.join("\n\n"), buttons: [] });
          texts = [];
        }
        if (typeof r.text === "string" && r.text.trim()) texts.push(r.text);
        if (buttons.length || i === usable.length - 1) {
          addMessage({ from: "bot", text: texts.join("\n\n"), buttons: buttons });
          texts = [];
        }
      });
    }).catch(function (error) {
      addMessage({ from: "notice", reason: error && error.name === "AbortError" ? "timeout" : "error",
        retry: message, retryShown: shown });
    }).then(function () {
      pending -= 1;
      if (!pending) setTyping(false);
    });
  }

  /** Shows what the person sent (a button's title) and sends the message (its payload) in order. */
  function send(message, shown) {
    var display = typeof shown === "string" && shown ? shown : message;
    addMessage({ from: "user", text: display });
    queue = queue.then(function () { return exchange(message, display); });
  }

  // ---------- the widget ----------

  function setOpen(open, moveFocus) {
    state.open = open;
    save();
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    ui.launcherText.textContent = open ? texts.launcher_hide : texts.launcher;
    if (open) {
      scrollToEnd();
      if (moveFocus) ui.input.focus();
    } else if (moveFocus) {
      ui.launcher.focus();
    }
  }

  function startOver() {
    state.messages = [];
    state.sender = newSenderId();
    save();
    ui.log.replaceChildren(renderIntro());
    ui.input.focus();
  }

  function build() {
    ui.webhook = rasaBase() + "/webhooks/rest/webhook";
    ui.launcherText = el("span", { class: "kf-launcher-text", text: texts.launcher });
    ui.launcher = el("button", { type: "button", class: "kf-launcher", "aria-controls": "kf-panel", "aria-expanded": "false",
      onclick: function () { setOpen(!state.open, true); } },
      [el("span", { class: "kf-launcher-icon", "aria-hidden": "true" }), ui.launcherText]);

    ui.log = el("div", { class: "kf-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": texts.conversation, tabindex: "0" });
    ui.typing = el("div", { class: "kf-typing", role: "status" });
    // Multi-line: Enter sends, Shift+Enter starts a new line. No maxlength: the browser would cut a
    // pasted text without a word; the count and the message below say when it is too long instead.
    ui.input = el("textarea", { id: "kf-input", class: "kf-input", rows: "1", autocomplete: "off",
      "aria-describedby": "kf-count kf-limit", placeholder: texts.placeholder,
      oninput: updateCount,
      onkeydown: function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          ui.form.requestSubmit();
        }
      } });
    ui.count = el("span", { id: "kf-count", class: "kf-count" });
    ui.limit = el("p", { id: "kf-limit", class: "kf-limit", role: "status" });
    ui.form = el("form", { class: "kf-form", onsubmit: function (event) {
      event.preventDefault();
      var text = ui.input.value.trim();
      if (!text) return;
      if (length(ui.input.value) > maxChars) { updateCount(true); return; }  // the message says why, nothing is cut
      ui.input.value = "";
      updateCount();
      send(text);
    } }, [
      el("label", { for: "kf-input", class: "kf-vh", text: texts.input_label }),
      el("div", { class: "kf-form-row" }, [ui.input, el("button", { type: "submit", class: "kf-send" }, [texts.send])]),
      el("div", { class: "kf-form-info" }, [ui.limit, ui.count])
    ]);

    ui.panel = el("section", { id: "kf-panel", class: "kf-panel", "aria-labelledby": "kf-title", hidden: true,
      onkeydown: function (event) { if (event.key === "Escape") setOpen(false, true); } }, [
      el("header", { class: "kf-header" }, [
        el("div", { class: "kf-heading" }, [
          el("h2", { id: "kf-title", text: texts.title }),
          el("p", { class: "kf-sub", text: texts.subtitle })
        ]),
        el("button", { type: "button", class: "kf-header-btn", onclick: startOver,
          "aria-label": texts.start_over_name }, [texts.start_over]),
        el("button", { type: "button", class: "kf-header-btn kf-close", onclick: function () { setOpen(false, true); },
          "aria-label": texts.close_name }, [texts.close])
      ]),
      ui.log,
      ui.typing,
      ui.form,
      el("p", { class: "kf-privacy", text: texts.privacy })
    ]);

    var root = el("div", { class: "kf-widget" }, [ui.panel, ui.launcher]);
    document.body.append(root);

    if (state.messages.length) state.messages.forEach(function (m) { ui.log.append(renderMessage(m)); });
    else ui.log.append(renderIntro());
    updateCount();
    setOpen(state.open, false);
  }

  /** Characters as the Rasa server counts them (code points, not UTF-16 units). */
  function length(text) {
    return Array.from(text).length;
  }

  /** "n / max" under the input; at the limit a message says so, over it (a paste) another says
   *  by how much, and the box grows with its lines up to a few (then it scrolls). */
  function updateCount(refused) {
    var n = length(ui.input.value);
    var values = { count: n, max: maxChars, over: n - maxChars };
    ui.count.replaceChildren(fill(texts.count, values), visuallyHidden(texts.count_spoken));
    var over = n > maxChars;
    ui.count.classList.toggle("kf-count-full", n >= maxChars);
    ui.input.setAttribute("aria-invalid", over ? "true" : "false");
    var message = over ? fill(texts.limit_over, values) : n === maxChars ? fill(texts.limit_reached, values) : "";
    if (refused === true) {  // said again, so a screen reader reads it again
      ui.limit.textContent = "";
      setTimeout(function () { ui.limit.textContent = message; }, 100);
    } else if (ui.limit.textContent !== message) {
      ui.limit.textContent = message;
    }
    ui.input.style.height = "auto";
    ui.input.style.height = ui.input.scrollHeight + 2 + "px";
  }

  /** Keeps the panel clear of the help bar, whose height depends on the screen width. */
  function trackHelpbarHeight() {
    var bar = document.getElementById("kf-helpbar");
    if (!bar) return;
    var update = function () {
      document.documentElement.style.setProperty("--kf-helpbar-height", bar.getBoundingClientRect().height + "px");
    };
    update();
    if (window.ResizeObserver) new ResizeObserver(update).observe(bar);
  }

  function init() {
    trackHelpbarHeight();
    if (!texts) return;  // a page web/server.py did not render: its help bar is all there is
    load();
    Promise.all([loadConfig(), loadHelplines()]).then(build);
  }

  // For tests and embedding pages: where the widget sends messages (after /config.json has loaded).
  window.KlonopinChat = { rasaBase: rasaBase, timeoutMs: TIMEOUT_MS, maxChars: function () { return maxChars; } };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
