// Tillpoint pay page: live status (Server-Sent Events, else polling), token tabs, copy buttons,
// the quote countdown and the browser-wallet button. The page works without any of it.
"use strict";

(function () {
  const body = document.body;
  const statusUrl = body.dataset.statusUrl;
  const eventsUrl = body.dataset.eventsUrl;
  const POLL_MS = 3000;
  let polling = null;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

  // ---- live status

  function render(status) {
    body.dataset.state = status.state;
    $("#status-title").textContent = status.title;
    $("#status-message").textContent = status.message;
    const countdown = $("#countdown");
    if (countdown) countdown.dataset.expires = String(status.expiresAt);
    const requote = $("#requote");
    if (requote) requote.hidden = status.state !== "expired";  // stray receipts leave an order expired
    renderPayments(status);
    renderReturn(status.returnUrl);
    status.options.forEach(renderOption);
    tick();
  }

  const STRAY_NOTE = "does not count towards this order (a token it does not accept, or less than a cent); " +
    "ask the merchant to refund it";

  function renderPayments(status) {
    const list = $("#payments");
    list.replaceChildren(...status.payments.map(function (p) {
      const item = document.createElement("li");
      const hash = document.createElement("span");
      hash.className = "mono";
      hash.textContent = p.txHash.slice(0, 10) + "…" + p.txHash.slice(-6);
      const confirmed = p.confirmations >= status.confirmationsRequired ? "confirmed" :
        p.confirmations + "/" + status.confirmationsRequired + " confirmations";
      item.append(hash, " · $" + Number(p.usd).toFixed(2) + " in " + p.token + " · " + confirmed);
      if (p.stray) item.append(" · " + STRAY_NOTE);
      return item;
    }));
  }

  // The merchant's "Return to …" link: on the page (hidden) only when the order has one; shown once paid.
  function renderReturn(url) {
    const holder = $("#return");
    if (!holder) return;
    const link = $("#return-link", holder);
    if (url) link.href = url; else link.removeAttribute("href");
    holder.hidden = !url;
  }

  function renderOption(option) {
    const panel = document.getElementById("option-" + option.token);
    if (!panel) return;
    $(".amount", panel).textContent = option.amountDisplay;
    $(".copy", panel).dataset.copy = option.amountDisplay;
    $(".wallet-link", panel).href = option.uri;
    $(".wallet-pay", panel).dataset.amount = option.amount;
    const qr = $(".qr img", panel);
    const src = qr.dataset.srcBase + "?v=" + option.qrVersion;
    if (qr.getAttribute("src") !== src) qr.setAttribute("src", src);
  }

  function fetchStatus() {
    return fetch(statusUrl, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) render(s); })
      .catch(function () { /* offline for a moment: the next poll retries */ });
  }

  function startPolling() {
    if (polling === null) polling = setInterval(fetchStatus, POLL_MS);
  }

  function listen() {
    if (!("EventSource" in window)) { startPolling(); return; }
    const source = new EventSource(eventsUrl);
    source.addEventListener("status", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("error", function () {
      // CLOSED: the server refused a stream (204: it has none free) — poll instead.
      // CONNECTING: the stream ended or dropped; the browser reconnects by itself.
      if (source.readyState === EventSource.CLOSED) startPolling();
    });
  }

  // ---- countdown to quote expiry

  let expiredAsked = false;

  function tick() {
    const countdown = $("#countdown");
    if (!countdown) return;
    const left = Math.floor((Number(countdown.dataset.expires) - Date.now()) / 1000);
    const label = $("#countdown-left");
    if (left > 0) {
      expiredAsked = false;
      const m = Math.floor(left / 60), s = left % 60;
      label.textContent = "(" + m + ":" + String(s).padStart(2, "0") + " left)";
    } else {
      label.textContent = "(expired)";
      if (!expiredAsked && body.dataset.state === "waiting") { expiredAsked = true; fetchStatus(); }
    }
  }

  // ---- token tabs and copy buttons

  function chooseToken(token) {
    $all(".token").forEach(function (a) {
      if (a.dataset.token === token) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    });
    $all(".option").forEach(function (panel) { panel.hidden = panel.dataset.token !== token; });
  }

  function enableCopy() {
    if (!navigator.clipboard) return;
    $all(".copy").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
    });
  }

  // ---- browser wallet (EIP-1193): switch to the order's chain, send exactly the quoted amount

  function word(hex) { return hex.replace(/^0x/, "").toLowerCase().padStart(64, "0"); }

  function walletTransaction(button, from) {
    const amount = BigInt(button.dataset.amount);
    if (button.dataset.tokenAddress) {
      // ERC-20 transfer(address,uint256): selector a9059cbb, then the two ABI words.
      return { from: from, to: button.dataset.tokenAddress, value: "0x0",
               data: "0xa9059cbb" + word(button.dataset.to) + word(amount.toString(16)) };
    }
    return { from: from, to: button.dataset.to, value: "0x" + amount.toString(16) };
  }

  async function payWithWallet(button) {
    const note = $(".wallet-status", button.closest(".option"));
    note.hidden = false;
    try {
      const wallet = window.ethereum;
      const accounts = await wallet.request({ method: "eth_requestAccounts" });
      const chainId = "0x" + BigInt(button.dataset.chainId).toString(16);
      if ((await wallet.request({ method: "eth_chainId" })) !== chainId) {
        note.textContent = "Switching your wallet to the right network…";
        await wallet.request({ method: "wallet_switchEthereumChain", params: [{ chainId: chainId }] });
      }
      note.textContent = "Confirm the payment in your wallet…";
      const hash = await wallet.request({ method: "eth_sendTransaction", params: [walletTransaction(button, accounts[0])] });
      note.textContent = "Sent (" + hash.slice(0, 10) + "…). Waiting for the chain — this page updates by itself.";
    } catch (error) {
      note.textContent = "The wallet did not send the payment: " + (error && error.message ? error.message : error) +
        ". You can still pay by QR code or copy the address.";
    }
  }

  function enableWallet() {
    if (!window.ethereum) return;
    $all(".wallet-pay").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { payWithWallet(button); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $all(".token").forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        chooseToken(a.dataset.token);
        history.replaceState(null, "", "?token=" + encodeURIComponent(a.dataset.token));
      });
    });
    enableCopy();
    enableWallet();
    setInterval(tick, 1000);
    tick();
    listen();
  });
})();
