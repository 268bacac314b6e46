/* fnrag practitioner page. Plain browser JavaScript, no build step, no external code.
 * Every answer and document string goes into the page through textContent or text
 * nodes, never parsed as HTML markup: a passage that holds <script> or <img onerror> stays text. */
"use strict";
(function () {
  const KEY_STORE = "fnrag-api-key";
  const $ = (id) => document.getElementById(id);
  const state = {
    config: { auth: "key", sample: false, refusal: "", versions: false },
    key: sessionStorage.getItem(KEY_STORE) || "",
    conversationId: null,
    messages: [],
    busy: false,
    openChip: null,
    listed: "",
    imageUrl: null,
  };

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    if (state.config.auth === "key" && state.key) h["Authorization"] = "Bearer " + state.key;
    return h;
  }

  function setStatus(text) { $("status").textContent = text || ""; }

  const STATUS_TEXT = {
    401: "API 키가 없거나 맞지 않습니다. 키를 다시 넣으십시오.",
    403: "이 키로는 할 수 없는 일입니다.",
    413: "질문이 너무 깁니다. 줄여서 다시 보내십시오.",
    429: "요청이 너무 잦습니다. 잠시 뒤 다시 보내십시오.",
    503: "서버가 아직 준비 중입니다. 잠시 뒤 다시 보내십시오.",
  };

  async function errorText(response) {
    const known = STATUS_TEXT[response.status];
    const detail = await serverText(response);
    return known ? known + " (" + detail + ")" : detail;
  }

  async function serverText(response) {
    try {
      const body = await response.json();
      const err = body.error || body.detail || body;
      if (typeof err === "string") return err;
      if (err && err.message) return err.message;
    } catch (e) { /* not JSON */ }
    return "서버 오류 (" + response.status + ")";
  }

  function needKey(message) {
    if (state.config.auth !== "key") return;
    $("key-form").hidden = false;
    if (message) setStatus(message);
    $("api-key").focus();
  }

  // --- answer text with [n] chips -------------------------------------------------
  function renderAnswer(target, text, citations) {
    const byN = new Map((citations || []).map((c) => [Number(c.n), c]));
    const nodes = [];
    const pattern = /\[(\d{1,3})\]/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      nodes.push(chip(Number(match[1]), byN, citations !== null));
      last = pattern.lastIndex;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    target.replaceChildren(...nodes);
  }

  function chip(n, byN, settled) {
    const c = byN.get(n);
    const button = el("button", {
      type: "button", class: "chip", "data-testid": "citation", "data-n": n,
      "data-ready": c ? "true" : "false", "aria-controls": "citation-panel",
      "aria-expanded": "false",
      "aria-label": c ? "근거 " + n + ": " + (c.reference || c.title || "") : "근거 " + n + (settled ? " (확인되지 않음)" : " (확인 중)"),
    }, "[" + n + "]");
    if (c) button.addEventListener("click", () => openPanel(c, button));
    else button.disabled = true;
    return button;
  }

  function sourceList(citations) {
    const list = el("ul", { class: "sources", "aria-label": "근거 목록" });
    for (const c of citations) {
      const item = el("li");
      const button = el("button", { type: "button", class: "source", "data-testid": "source", "aria-controls": "citation-panel" },
        "[" + c.n + "] " + (c.reference || c.title || c.source || ""));
      button.addEventListener("click", () => openPanel(c, button));
      item.append(button);
      list.append(item);
    }
    return list;
  }

  // --- messages ---------------------------------------------------------------------
  function addUser(text, asOf) {
    const item = el("li", { class: "msg user" });
    item.append(el("span", { class: "who" }, asOf ? "질문 · 기준일 " + asOf : "질문"));
    item.append(document.createTextNode(text));
    $("messages").append(item);
    $("intro").hidden = true;
    return item;
  }

  function addAnswerShell() {
    const item = el("li", { class: "msg bot", "aria-busy": "true" });
    item.append(el("span", { class: "who" }, "답변"));
    const body = el("div", { class: "answer", "data-testid": "answer" });
    item.append(body);
    $("messages").append(item);
    item.scrollIntoView({ block: "nearest" });
    return { item, body };
  }

  function isRefusal(text, flag) {
    if (flag === true) return true;
    const sentence = state.config.refusal;
    return Boolean(sentence) && text.trim().startsWith(sentence);
  }

  function finishAnswer(shell, result) {
    const { item, body } = shell;
    item.removeAttribute("aria-busy");
    renderAnswer(body, result.text, result.citations || []);
    if (result.resolved && result.resolved !== result.question) {
      item.insertBefore(el("p", { class: "resolved" }, "이렇게 이해했습니다: " + result.resolved), body);
    }
    if (isRefusal(result.text, result.refused)) {
      item.classList.add("refused");
      item.setAttribute("data-refused", "true");
      item.append(el("p", { class: "refusal-hint" },
        "다시 물어보는 방법: 거래 종류(예: 계좌 개설, 송금), 금액이나 기간, 알고 있다면 조문(예: 제4조)을 넣어 한 번에 한 가지만 물어보십시오. 금융실명법·특정금융정보법 밖의 질문에는 답하지 않습니다."));
    } else if (result.citations && result.citations.length) {
      item.append(sourceList(result.citations));
    }
    if (result.id) item.append(feedback(result.id));
  }

  function feedback(answerId) {
    const box = $("feedback-template").content.firstElementChild.cloneNode(true);
    const status = box.querySelector(".fbstatus");
    const comment = box.querySelector(".comment");
    for (const button of box.querySelectorAll("button.fb")) {
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", async () => {
        const body = { answer_id: answerId, rating: button.dataset.rating };
        if (button.dataset.reason) body.reason = button.dataset.reason;
        if (comment.value.trim()) body.comment = comment.value.trim();
        status.textContent = "보내는 중…";
        try {
          const response = await fetch("/v1/feedback", { method: "POST", headers: headers(true), body: JSON.stringify(body) });
          if (response.status === 401) { needKey("API 키를 넣어 주십시오."); status.textContent = "보내지 못했습니다."; return; }
          if (!response.ok) { status.textContent = "보내지 못했습니다: " + (await errorText(response)); return; }
          for (const other of box.querySelectorAll("button.fb")) other.setAttribute("aria-pressed", String(other === button));
          status.textContent = "의견을 보냈습니다. 고맙습니다.";
        } catch (e) {
          status.textContent = "보내지 못했습니다: 서버에 연결할 수 없습니다.";
        }
      });
    }
    return box;
  }

  // --- streaming chat -------------------------------------------------------------------
  async function ask(question) {
    if (state.busy) return;
    const asOf = $("as-of").value || null;
    state.busy = true;
    $("send").disabled = true;
    setStatus("근거를 찾는 중…");
    addUser(question, asOf);
    const shell = addAnswerShell();
    const payload = { model: "fnrag", stream: true, messages: state.messages.concat([{ role: "user", content: question }]) };
    if (asOf) payload.as_of = asOf;
    if (state.conversationId) payload.conversation_id = state.conversationId;
    const result = { text: "", citations: null, id: null, refused: null, resolved: null, question };
    try {
      const response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(true), body: JSON.stringify(payload) });
      if (!response.ok) {
        if (response.status === 401) needKey("API 키가 없거나 맞지 않습니다. 키를 넣고 다시 보내십시오.");
        throw new Error(await errorText(response));
      }
      await readStream(response, (chunk) => absorb(chunk, result, shell));
      finishAnswer(shell, result);
      state.messages.push({ role: "user", content: question }, { role: "assistant", content: result.text });
      setStatus(result.citations && result.citations.length ? "근거 " + result.citations.length + "건" : "");
      refreshConversations();
    } catch (e) {
      shell.item.classList.add("error");
      shell.item.removeAttribute("aria-busy");
      shell.body.textContent = "답을 받지 못했습니다: " + (e && e.message ? e.message : e);
      setStatus("");
    } finally {
      state.busy = false;
      $("send").disabled = false;
    }
  }

  function absorb(chunk, result, shell) {
    if (chunk.id && !result.id) result.id = chunk.id;
    const extra = chunk.fnrag || {};
    const conv = chunk.conversation_id || extra.conversation_id;
    if (conv) state.conversationId = conv;
    const choice = (chunk.choices || [])[0] || {};
    const delta = choice.delta || choice.message || {};
    if (typeof delta.content === "string") result.text += delta.content;
    const refused = delta.refused ?? chunk.refused ?? extra.refused;
    if (typeof refused === "boolean") result.refused = refused;
    const resolved = delta.resolved_question || chunk.resolved_question || extra.resolved_question;
    if (resolved) result.resolved = resolved;
    if (Array.isArray(delta.citations)) result.citations = delta.citations;
    if (typeof extra.content === "string") result.text = extra.content; // the verified whole
    renderAnswer(shell.body, result.text, result.citations);
  }

  async function readStream(response, onChunk) {
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream")) { onChunk(await response.json()); return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || String(chunk.error));
        onChunk(chunk);
      }
      if (done) return;
    }
  }

  // --- the citation panel --------------------------------------------------------------
  function pageText(c) {
    const parts = [];
    const printed = (c.pages && c.pages.length > 1) ? c.pages[0] + "–" + c.pages[c.pages.length - 1] : c.page;
    if (printed !== null && printed !== undefined) parts.push("인쇄 쪽 " + printed);
    const pdf = (c.pdf_pages && c.pdf_pages.length > 1) ? c.pdf_pages[0] + "–" + c.pdf_pages[c.pdf_pages.length - 1] : c.pdf_page;
    if (pdf !== null && pdf !== undefined) parts.push("PDF " + pdf + "쪽");
    return parts.join(" · ");
  }

  function fillMeta(c, passage) {
    const meta = $("panel-meta");
    const rows = [
      ["문서", c.title || (passage && passage.title)],
      ["조항", c.reference],
      ["위치", c.section],
      ["쪽", pageText(c)],
      ["버전", c.version || (passage && passage.version)],
      ["시행일", dateRange(c.effective_from || (passage && (passage.effective_from || passage.effective_date)), c.effective_to || (passage && passage.effective_to))],
      ["파일", (c.source || "").split(/[\\/]/).pop()],
    ];
    meta.replaceChildren();
    for (const [name, value] of rows) {
      if (!value) continue;
      meta.append(el("dt", {}, name), el("dd", { "data-field": name }, value));
    }
  }

  function dateRange(from, to) {
    if (!from) return "";
    return to ? from + " ~ " + to + " 전날" : from + " 시행";
  }

  function showPassage(text, start, end, quote) {
    const box = $("panel-passage");
    let a = start, b = end;
    if (!(a >= 0 && b > a && b <= text.length && text.slice(a, b) === quote)) {
      a = quote ? text.indexOf(quote) : -1;
      b = a >= 0 ? a + quote.length : -1;
    }
    if (a < 0) { box.replaceChildren(document.createTextNode(text)); return; }
    const mark = el("mark", { "data-testid": "quote" }, text.slice(a, b));
    box.replaceChildren(document.createTextNode(text.slice(0, a)), mark, document.createTextNode(text.slice(b)));
    showMark();
  }

  function showMark() { // the quote in view, not the chunk's top (again when the screen turns)
    const box = $("panel-passage");
    const mark = box.querySelector("mark");
    if (mark) box.scrollTop = Math.max(0, mark.offsetTop - 24);
  }

  async function openPanel(c, opener) {
    const panel = $("citation-panel");
    if (state.openChip) state.openChip.setAttribute("aria-expanded", "false");
    state.openChip = opener;
    opener.setAttribute("aria-expanded", "true");
    panel.hidden = false;
    $("panel-title").textContent = "근거 [" + c.n + "]";
    fillMeta(c, null);
    showPassage(c.quote || "", 0, (c.quote || "").length, c.quote || "");
    clearImage();
    panel.focus();
    const query = new URLSearchParams({ chunk_id: c.chunk_id, quote_start: c.quote_start || 0, quote_end: c.quote_end || 0 });
    try {
      const response = await fetch("/ui/passage?" + query, { headers: headers(false) });
      if (!response.ok) { setStatus("본문을 불러오지 못했습니다: " + (await errorText(response))); return; }
      const passage = await response.json();
      if (state.openChip !== opener) return;
      fillMeta(c, passage);
      showPassage(passage.text, (c.quote_start || 0) - passage.start, (c.quote_end || 0) - passage.start, c.quote || "");
      if (passage.pdf && passage.pdf.available) await showImage(c, passage.pdf, opener);
    } catch (e) {
      setStatus("본문을 불러오지 못했습니다.");
    }
  }

  function clearImage() {
    $("panel-figure").hidden = true;
    $("panel-image-wrap").replaceChildren();
    if (state.imageUrl) { URL.revokeObjectURL(state.imageUrl); state.imageUrl = null; }
  }

  async function showImage(c, pdf, opener) {
    const query = new URLSearchParams({ chunk_id: c.chunk_id, page: pdf.page });
    const response = await fetch("/ui/pdf-page?" + query, { headers: headers(false) });
    if (!response.ok || state.openChip !== opener) return;
    const blob = await response.blob();
    state.imageUrl = URL.createObjectURL(blob);
    const wrap = $("panel-image-wrap");
    const img = el("img", { src: state.imageUrl, alt: (c.title || "") + " PDF " + pdf.page + "쪽", "data-testid": "pdf-page" });
    wrap.replaceChildren(img);
    for (const [x0, y0, x1, y1] of pdf.marks || []) {
      const box = el("div", { class: "pdfmark", "data-testid": "pdf-mark" });
      box.style.left = (x0 * 100) + "%";
      box.style.top = (y0 * 100) + "%";
      box.style.width = ((x1 - x0) * 100) + "%";
      box.style.height = ((y1 - y0) * 100) + "%";
      wrap.append(box);
    }
    $("panel-caption").textContent = "PDF " + pdf.page + "쪽" + ((pdf.marks || []).length ? " · 인용한 곳을 주황색 상자로 표시했습니다." : " · 이 쪽의 글자 위치를 찾지 못해 표시하지 않았습니다.");
    $("panel-figure").hidden = false;
  }

  function closePanel() {
    $("citation-panel").hidden = true;
    clearImage();
    if (state.openChip) { state.openChip.setAttribute("aria-expanded", "false"); state.openChip.focus(); }
    state.openChip = null;
  }

  // --- conversations -------------------------------------------------------------------
  function newChat() {
    state.conversationId = null;
    state.messages = [];
    $("messages").replaceChildren();
    $("intro").hidden = false;
    closePanel();
    markCurrent();
    $("question").focus();
  }

  function markCurrent() {
    for (const b of $("conversation-list").querySelectorAll("button")) {
      b.setAttribute("aria-current", String(b.dataset.id === state.conversationId));
    }
  }

  async function refreshConversations() {
    if (state.config.auth === "key" && !state.key) return;
    try {
      const response = await fetch("/ui/conversations", { headers: headers(false) });
      if (!response.ok) return;
      const body = await response.json();
      const list = $("conversation-list");
      const shown = JSON.stringify(body.conversations || []);
      if (shown === state.listed) { markCurrent(); return; } // unchanged: keep the buttons
      state.listed = shown;
      list.replaceChildren();
      for (const conv of body.conversations || []) {
        const button = el("button", { type: "button", "data-id": conv.id, "data-testid": "conversation" }, conv.title || "(제목 없음)");
        button.append(el("span", { class: "when" }, (conv.created_at || "").slice(0, 16).replace("T", " ") + " · " + conv.turns + "턴"));
        button.addEventListener("click", () => loadConversation(conv.id));
        const item = el("li");
        item.append(button);
        list.append(item);
      }
      $("history-empty").hidden = list.children.length > 0;
      markCurrent();
    } catch (e) { /* the list is a convenience; chatting still works */ }
  }

  async function loadConversation(id) {
    const response = await fetch("/ui/conversations/" + encodeURIComponent(id), { headers: headers(false) });
    if (!response.ok) { setStatus("대화를 불러오지 못했습니다: " + (await errorText(response))); return; }
    const body = await response.json();
    newChat();
    state.conversationId = id;
    for (const turn of body.turns || []) {
      addUser(turn.question, turn.as_of);
      const shell = addAnswerShell();
      finishAnswer(shell, { text: turn.answer, citations: turn.citations, id: turn.id, refused: turn.refused, resolved: turn.resolved_question, question: turn.question });
      state.messages.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.answer });
    }
    markCurrent();
    setStatus("지난 대화를 불러왔습니다. 이어서 물어볼 수 있습니다.");
  }

  // --- start -----------------------------------------------------------------------------
  async function start() {
    try {
      const response = await fetch("/ui/config");
      if (response.ok) state.config = Object.assign(state.config, await response.json());
    } catch (e) { /* defaults */ }
    $("sample-banner").hidden = !state.config.sample;
    if (state.config.versions === false) $("as-of-hint").textContent = "이 색인에는 법령 버전 정보가 없어 기준일은 기록만 됩니다.";
    if (state.config.auth === "key" && !state.key) needKey();
    refreshConversations();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!/^[\x21-\x7e]+$/.test(key)) {
        setStatus("API 키는 영문·숫자·기호로만 된 한 줄입니다(예: fnrag-…). 받은 키를 그대로 붙여 넣으십시오.");
        $("api-key").setAttribute("aria-invalid", "true");
        return;
      }
      $("api-key").removeAttribute("aria-invalid");
      state.key = key;
      sessionStorage.setItem(KEY_STORE, state.key);
      $("api-key").value = "";
      $("key-form").hidden = true;
      setStatus("API 키를 저장했습니다.");
      refreshConversations();
      $("question").focus();
    });
    $("ask-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const question = $("question").value.trim();
      if (!question || state.busy) return;
      $("question").value = "";
      ask(question);
    });
    $("question").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
    $("panel-close").addEventListener("click", closePanel);
    window.addEventListener("resize", showMark);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("citation-panel").hidden) closePanel();
    });
    $("new-chat").addEventListener("click", newChat);
    $("history-toggle").addEventListener("click", () => {
      const nav = $("history");
      nav.hidden = !nav.hidden;
      $("history-toggle").setAttribute("aria-expanded", String(!nav.hidden));
      if (!nav.hidden) refreshConversations();
    });
    document.body.setAttribute("data-ready", "true");
  }

  document.addEventListener("DOMContentLoaded", start);
})();
