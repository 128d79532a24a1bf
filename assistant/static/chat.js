() => {
  // What Gradio's chat does not do, for the messages `assistant.serve.html` renders: citations that lead to
  // their source, focus and scroll after an answer, copy as text, feedback, export. Listeners sit on
  // the document, so they also cover messages Gradio renders later; installed once per document
  // (a wiki page may hold the web component and the iframe).
  if (window.assistantChat) return;

  const CHAT = ".qa-chat";
  const BOX = ".qa-question textarea";

  // ── helpers ─────────────────────────────────────────────────────────────────────────────
  const element = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // text, never HTML: it may come from an article
    return node;
  };
  const dataOf = (qa) => {
    try { return JSON.parse(qa.querySelector(".qa-data")?.textContent || "null"); } catch { return null; }
  };
  const numberOf = (marker) => marker.textContent.replace(/\D/g, "");

  // Scroll the message list, never the page or a wiki page around the frame, so `node` starts at its top.
  function reveal(node, onlyIfHidden = false) {
    const list = node.closest(CHAT)?.querySelector(".bubble-wrap");
    if (!list) return;
    const box = list.getBoundingClientRect();
    const rect = node.getBoundingClientRect();
    if (onlyIfHidden && rect.top >= box.top && rect.bottom <= box.bottom) return;
    list.scrollTop += rect.top - box.top - 8;
  }

  // Gradio floats a scroll-down arrow over the list's bottom centre (26 px, 10 px up) until the list is
  // scrolled to within 100 px of its end; what is revealed whole keeps this much clear of the bottom.
  const ARROW_CLEARANCE = 44;

  // Scroll the message list as little as it takes to show all of `node` above the arrow (its top
  // first, when it is taller than the list): the feedback form opened below the fold, under the arrow.
  function revealWhole(node) {
    const list = node.closest(CHAT)?.querySelector(".bubble-wrap");
    if (!list) return;
    const box = list.getBoundingClientRect();
    const rect = node.getBoundingClientRect();
    const above = rect.top - box.top - 8;
    const below = rect.bottom - (box.bottom - ARROW_CLEARANCE);
    if (above < 0) list.scrollTop += above;
    else if (below > 0) list.scrollTop += Math.min(below, above);
  }

  // ── citations: hover or focus shows the quote, a click goes to its source card ───────────
  let tip = null;
  function showTip(marker) {
    const n = numberOf(marker);
    const card = marker.closest(".qa")?.querySelector(`.qa-src-${n}`);
    if (!card) return;
    tip ??= Object.assign(element("div", "qa-tip"), { id: "qa-tip", role: "tooltip" });
    tip.replaceChildren(element("strong", "", card.querySelector(".qa-title")?.textContent || ""),
                        element("span", "", quoted(card.querySelector(`.qa-q-${n}`)?.textContent || "")));
    (marker.closest(".gradio-container") || document.body).append(tip);
    const at = marker.getBoundingClientRect();
    const width = Math.min(360, window.innerWidth - 16);
    tip.style.width = `${width}px`;
    tip.style.left = `${Math.max(8, Math.min(at.left, window.innerWidth - width - 8))}px`;
    const below = at.bottom + 6;
    tip.style.top = `${below + tip.offsetHeight > window.innerHeight ? Math.max(8, at.top - tip.offsetHeight - 6) : below}px`;
    marker.setAttribute("aria-describedby", "qa-tip");
  }
  const hideTip = () => tip?.remove();

  function showSource(card) {
    reveal(card, true);
    card.tabIndex = -1;
    card.focus({ preventScroll: true });
    card.classList.remove("qa-flash");
    void card.offsetWidth; // restart the animation when the same card is asked for twice
    card.classList.add("qa-flash");
  }

  // A quote in quotation marks, once: a sentence that opens with its own (“How can you ...?” says
  // Golts) is shown as it is, not as ““How can you ...”.
  const quoted = (text) => {
    const inner = String(text).trim();
    return /^[“"«„]/.test(inner) ? inner : `“${inner}”`;
  };

  // ── copy, feedback, export ───────────────────────────────────────────────────────────────
  function asText(data) {
    const lines = [data.answer];
    if (data.citations.length) {
      lines.push("", "Sources:");
      for (const c of data.citations) lines.push(`${c.n}. ${c.title}: ${quoted(c.quote)} ${c.url || c.href}`);
    }
    return lines.join("\n");
  }

  async function copy(text, button) {
    let done = false;
    try { await navigator.clipboard.writeText(text); done = true; } catch { /* not a secure context */ }
    if (!done) {
      const area = Object.assign(element("textarea"), { value: text });
      area.style.cssText = "position:fixed;opacity:0";
      document.body.append(area);
      area.select();
      done = document.execCommand("copy");
      area.remove();
      button.focus();
    }
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  // A click stores the vote at once; the comment is an optional second step that updates the same
  // entry (the server keys votes by the answer's answer_id).
  function askFeedback(button) {
    const qa = button.closest(".qa");
    const vote = button.classList.contains("qa-up") ? "up" : "down";
    for (const other of qa.querySelectorAll(".qa-vote")) other.setAttribute("aria-pressed", String(other === button));
    let form = qa.querySelector(".qa-feedback");
    if (!form) {
      form = element("form", "qa-feedback");
      const label = element("label", "", "What was good or wrong? (optional)");
      const comment = Object.assign(element("textarea"), { rows: 2, maxLength: 2000 /* limits.MAX_COMMENT_CHARS */, name: "comment" });
      label.append(comment);
      form.append(label, Object.assign(element("button", "qa-send", "Send comment"), { type: "submit" }));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        sendFeedback(form, qa, form.querySelector("textarea").value.trim());
      });
      qa.querySelector(".qa-actions").after(form);
    }
    form.dataset.vote = vote;
    form.querySelector("textarea").focus({ preventScroll: true }); // the list scrolls, not the page around it
    revealWhole(form);
    sendFeedback(form, qa, "");
  }

  async function sendFeedback(form, qa, comment) {
    const data = dataOf(qa);
    const body = {
      answer_id: data.answer_id, vote: form.dataset.vote, comment,
      question: data.question, answer: data.answer,
      citations: data.citations.map(({ href, ...citation }) => citation),
    };
    const status = form.querySelector(".qa-feedback-status") || form.appendChild(element("p", "qa-feedback-status"));
    status.setAttribute("role", "status");
    try {
      const response = await fetch(data.feedback, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error((await response.json()).error?.message || response.statusText);
      if (!comment) {
        status.textContent = "Thank you: your vote was recorded. Add a comment if you like.";
      } else {
        const thanks = element("p", "qa-feedback-status", "Thank you: your feedback was sent.");
        thanks.setAttribute("role", "status");
        form.replaceWith(thanks);
      }
    } catch (error) {
      status.textContent = `Feedback was not sent: ${error.message}`;
    }
    revealWhole(form.isConnected ? form : qa.querySelector(".qa-feedback-status")); // the status line made it taller
  }

  const markdownText = (text) => String(text).replace(/([\\`*_[\]<>|~$])/g, "\\$1");

  function exportMarkdown() {
    const lines = ["# Ask the articles: conversation", ""];
    for (const row of document.querySelectorAll(`${CHAT} .message-row`)) {
      const qa = row.querySelector(".qa");
      const data = qa && dataOf(qa);
      if (row.classList.contains("user-row")) {
        lines.push(`## ${markdownText(row.textContent.trim())}`, "");
      } else if (data) {
        lines.push(markdownText(data.answer), "");
        if (data.citations.length) lines.push("Sources:", "");
        for (const c of data.citations) {
          lines.push(`${c.n}. [${markdownText(c.title)}](${c.href}): ${markdownText(quoted(c.quote))}`);
        }
        lines.push("");
      } else {
        lines.push(markdownText(row.textContent.trim()), "");
      }
    }
    const link = Object.assign(element("a"), {
      href: URL.createObjectURL(new Blob([lines.join("\n")], { type: "text/markdown" })),
      download: "conversation.md",
    });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  // ── after Gradio renders: names for screen readers, focus and scroll after an answer ──────
  function label() {
    for (const message of document.querySelectorAll(`${CHAT} [data-testid="bot"]`)) {
      const answer = message.querySelector(".qa-answer, .qa-status");
      const name = answer ? `Answer: ${answer.textContent.trim()}` : null;
      if (name && message.getAttribute("aria-label") !== name) message.setAttribute("aria-label", name);
    }
    for (const marker of document.querySelectorAll(`${CHAT} .qa-marker:not([aria-label])`)) {
      const title = marker.closest(".qa")?.querySelector(`.qa-src-${numberOf(marker)} .qa-title`)?.textContent;
      marker.setAttribute("aria-label", `Source ${numberOf(marker)}${title ? `: ${title}` : ""}`);
    }
    for (const vote of document.querySelectorAll(`${CHAT} .qa-vote:not([aria-pressed])`)) {
      vote.setAttribute("aria-pressed", "false");
    }
    for (const box of document.querySelectorAll(`${BOX}:not([data-placeholder])`)) {
      if (box.placeholder) box.dataset.placeholder = box.placeholder;
    }
    for (const button of document.querySelectorAll(".qa-question button:not([aria-label])")) {
      button.setAttribute("aria-label", button.classList.contains("stop-button") ? "Stop" : "Send question");
    }
  }

  // A new question, and its finished answer, bring the question to the top of the list, so the
  // answer's first line is in view rather than the end of its sources (Gradio scrolls to the end).
  const seen = new WeakMap(); // chat -> "questions/answers" it showed last time
  function followQuestions() {
    for (const chat of document.querySelectorAll(CHAT)) {
      const questions = chat.querySelectorAll(".message-row.user-row");
      const count = `${questions.length}/${chat.querySelectorAll(".qa:not(.qa-streaming)").length}`;
      if (questions.length && count !== seen.get(chat)) reveal(questions[questions.length - 1]);
      seen.set(chat, count);
    }
  }

  function answered(box) {
    // Gradio empties the placeholder while it answers and never puts it back.
    if (!box.placeholder && box.dataset.placeholder) box.placeholder = box.dataset.placeholder;
    const active = document.activeElement;
    const form = box.closest(".gradio-container");
    if (!active || active === document.body || (form?.contains(active) && !active.closest(".qa-feedback"))) {
      box.focus({ preventScroll: true });
    }
    const questions = form?.querySelectorAll(`${CHAT} .message-row.user-row`);
    if (questions?.length) reveal(questions[questions.length - 1]);
  }

  let scheduled = false;
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes" && record.attributeName === "disabled" && record.target.matches(BOX)
          && !record.target.disabled) answered(record.target);
    }
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(() => { scheduled = false; label(); followQuestions(); });
    }
  }).observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["disabled"] });

  // Capture phase: before Gradio's own handling of links inside messages.
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const marker = target?.closest(`${CHAT} .qa-marker`);
    if (marker && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      const card = marker.closest(".qa")?.querySelector(`.qa-src-${numberOf(marker)}`);
      if (card) {
        event.preventDefault();
        event.stopPropagation();
        hideTip();
        showSource(card);
      }
      return;
    }
    const copyButton = target?.closest(`${CHAT} .qa-copy`);
    if (copyButton) {
      const data = dataOf(copyButton.closest(".qa"));
      if (data) copy(asText(data), copyButton);
      return;
    }
    const vote = target?.closest(`${CHAT} .qa-vote`);
    if (vote) askFeedback(vote);
  }, true);
  for (const [type, show] of [["mouseover", true], ["focusin", true], ["mouseout", false], ["focusout", false]]) {
    document.addEventListener(type, (event) => {
      const marker = event.target instanceof Element && event.target.closest(`${CHAT} .qa-marker`);
      if (marker) show ? showTip(marker) : hideTip();
    });
  }
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") hideTip(); });

  // An empty question is a hint under the box, not a request: Gradio's own validation message
  // (the server's EMPTY_QUESTION) is not shown by every browser, and the box must stay usable.
  function hint(box) {
    const row = box.closest(".qa-question")?.closest(".row"); // the row holding the box: the hint goes under it
    let note = row?.parentElement?.querySelector(".qa-hint");
    if (!note && row) {
      note = element("p", "qa-hint", "Type a question about the articles first.");
      note.setAttribute("role", "status");
      row.after(note);
      box.addEventListener("input", () => note.remove(), { once: true });
    }
    box.focus();
  }
  const emptyBox = (target) => {
    const question = target instanceof Element ? target.closest(".qa-question") : null;
    const box = question?.querySelector("textarea");
    return box && !box.value.trim() ? box : null;
  };
  document.addEventListener("keydown", (event) => {
    const box = event.key === "Enter" && !event.shiftKey && !event.isComposing ? emptyBox(event.target) : null;
    if (box) { event.preventDefault(); event.stopPropagation(); hint(box); }
  }, true);
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest(".qa-question button.submit-button");
    const box = button ? emptyBox(button) : null;
    if (box) { event.preventDefault(); event.stopPropagation(); hint(box); }
  }, true);
  document.addEventListener("scroll", hideTip, true);

  window.assistantChat = { exportMarkdown, asText };
}
