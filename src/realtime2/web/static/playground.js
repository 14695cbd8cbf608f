// The Playground: a WebRTC voice call from this page, following the seed's own flow.
//
// 1. POST /playground/secret (login cookie + CSRF header) → a short-lived ek_ secret.
// 2. getUserMedia, RTCPeerConnection with the mic track (sendrecv) and an `oai-events`
//    data channel; offer → POST /api/realtime2/session (Bearer ek_) → SDP answer.
// 3. Events on the data channel drive the live transcript and status; the remote track
//    plays in <audio autoplay> and getStats() measures it.
// 4. Hang up: close the peer connection, POST /v1/realtime/calls/{id}/hangup, then
//    POST /api/realtime2/charge and show the credits used and the balance after.
//
// The page never sees an API key; nothing said or heard is logged.
"use strict";

(() => {
  const root = document.getElementById("playground");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const form = $("pg-form");
  const talkButton = $("pg-talk");
  const muteButton = $("pg-mute");
  const hangupButton = $("pg-hangup");
  const statusText = $("pg-status");
  const dot = $("pg-dot");
  const audio = $("pg-audio");
  const transcript = $("pg-transcript");
  const errorBox = $("pg-error");
  const chargedText = $("pg-charged");
  const balanceText = $("pg-balance");
  const level = $("pg-level");
  const audioState = $("pg-audio-state");
  const fields = [$("pg-model"), $("pg-voice"), $("pg-instructions")];

  const SECRET_MARGIN_MS = 60_000;
  const STATS_INTERVAL_MS = 400;
  const ICE_GATHER_MS = 2000;

  let secret = null; // {value, expires_at}
  let call = null; // the call in progress

  const number = (n) => Number(n).toLocaleString("en-US");

  function setStatus(state, text) {
    root.dataset.state = state;
    statusText.textContent = text;
    dot.className = "dot " + state;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch {
      // not JSON
    }
    return `The server answered ${response.status}.`;
  }

  // --- the short-lived secret ------------------------------------------------------------

  async function clientSecret() {
    if (secret && secret.expires_at * 1000 - Date.now() > SECRET_MARGIN_MS) {
      return secret.value;
    }
    const response = await fetch("/playground/secret", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": root.dataset.csrf },
    });
    if (response.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new Error("Your login expired.");
    }
    if (!response.ok) throw new Error(await errorMessage(response));
    secret = await response.json();
    return secret.value;
  }

  async function post(path, body) {
    const headers = { Authorization: `Bearer ${await clientSecret()}` };
    const init = { method: "POST", headers, credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init);
  }

  // --- transcript ------------------------------------------------------------------------

  function resetTranscript() {
    transcript.replaceChildren();
  }

  // One line per conversation item, created when the item first shows up so that lines
  // stay in conversation order even when a transcription completes late.
  function line(itemId, role) {
    const key = `${role}:${itemId || "?"}`;
    let li = call && call.lines.get(key);
    if (!li) {
      li = document.createElement("li");
      li.className = `line ${role} pending`;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = role === "user" ? "You" : "Assistant";
      const text = document.createElement("span");
      text.className = "text";
      li.append(who, text);
      transcript.append(li);
      if (call) call.lines.set(key, li);
    }
    return li;
  }

  function setText(li, text, final) {
    li.querySelector(".text").textContent = text;
    if (final) li.classList.remove("pending");
    li.scrollIntoView({ block: "nearest" });
  }

  function appendText(li, delta) {
    const el = li.querySelector(".text");
    el.textContent += delta;
    li.scrollIntoView({ block: "nearest" });
  }

  // --- events on the data channel --------------------------------------------------------

  function onEvent(event) {
    if (!call) return;
    switch (event.type) {
      case "session.created":
        setStatus("live", "Connected: speak now");
        break;
      case "input_audio_buffer.speech_started":
        line(event.item_id, "user");
        setStatus("live", "Listening…");
        break;
      case "input_audio_buffer.speech_stopped":
        setStatus("live", "Thinking…");
        break;
      case "conversation.item.input_audio_transcription.delta":
        appendText(line(event.item_id, "user"), event.delta || "");
        break;
      case "conversation.item.input_audio_transcription.completed":
        setText(line(event.item_id, "user"), (event.transcript || "").trim(), true);
        break;
      case "conversation.item.input_audio_transcription.failed":
        setText(line(event.item_id, "user"), "(not transcribed)", true);
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta":
        appendText(line(event.item_id, "assistant"), event.delta || "");
        break;
      case "response.output_audio_transcript.done":
        setText(line(event.item_id, "assistant"), event.transcript || "", true);
        break;
      case "response.output_text.done":
        setText(line(event.item_id, "assistant"), event.text || "", true);
        break;
      case "output_audio_buffer.started":
        root.dataset.assistantAudio = String(Number(root.dataset.assistantAudio) + 1);
        setStatus("speaking", "Assistant speaking…");
        break;
      case "output_audio_buffer.stopped":
      case "output_audio_buffer.cleared":
        setStatus("live", "Connected: speak now");
        break;
      case "response.done": {
        root.dataset.responses = String(Number(root.dataset.responses) + 1);
        const response = event.response || {};
        if (response.status === "failed") {
          const error = (response.status_details || {}).error || {};
          showError(error.message || "The response failed.");
        }
        // The seed charges after each completed response; the running total stays visible.
        charge().catch((err) => showError(err.message));
        break;
      }
      case "error":
        showError((event.error && event.error.message) || "The server reported an error.");
        break;
      default:
        break;
    }
  }

  // --- what we hear ----------------------------------------------------------------------

  async function sampleStats() {
    if (!call) return;
    let stats;
    try {
      stats = await call.pc.getStats();
    } catch {
      return; // closed meanwhile
    }
    stats.forEach((report) => {
      if (report.type !== "inbound-rtp" || report.kind !== "audio") return;
      const energy = report.totalAudioEnergy || 0;
      const samples = report.totalSamplesReceived || 0;
      root.dataset.audioEnergy = String(energy);
      root.dataset.audioSamples = String(samples);
      const audioLevel = report.audioLevel || 0;
      level.style.width = `${Math.min(100, Math.round(Math.sqrt(audioLevel) * 100))}%`;
      const seconds = report.totalSamplesDuration || 0;
      audioState.textContent = `${seconds.toFixed(1)} s received`;
    });
  }

  // --- charging --------------------------------------------------------------------------

  // Charges are serialised so the display never goes backwards.
  function charge() {
    if (!call || !call.callId) return Promise.resolve();
    const { callId, model } = call;
    const run = async () => {
      const response = await post("/api/realtime2/charge", { model, callId });
      if (!response.ok) throw new Error(await errorMessage(response));
      const result = await response.json();
      showCharge(result);
      return result;
    };
    call.charging = call.charging.then(run, run);
    return call.charging;
  }

  function showCharge(result) {
    root.dataset.charged = String(result.totalChargedCredits);
    chargedText.textContent =
      `${number(result.totalChargedCredits)} (${number(result.totalChargedSeconds)} s)`;
    showBalance(result.balance);
  }

  function showBalance(balance) {
    root.dataset.balance = String(balance);
    balanceText.textContent = number(balance);
  }

  async function refreshBalance() {
    const response = await fetch("/api/realtime2/me", { credentials: "same-origin" });
    if (response.ok) showBalance((await response.json()).balance);
  }

  // --- the call --------------------------------------------------------------------------

  function iceGathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const timer = setTimeout(resolve, ICE_GATHER_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  function setBusy(busy) {
    talkButton.disabled = busy;
    for (const field of fields) field.disabled = busy;
  }

  async function talk() {
    if (call) return;
    clearError();
    setBusy(true);
    resetTranscript();
    root.dataset.assistantAudio = "0";
    root.dataset.responses = "0";
    root.dataset.charged = "";
    root.dataset.callId = "";
    chargedText.textContent = "—";
    audioState.textContent = "—";
    const model = $("pg-model").value;
    const voice = $("pg-voice").value;
    const instructions = $("pg-instructions").value.trim();
    call = {
      pc: null,
      stream: null,
      callId: "",
      model,
      lines: new Map(),
      charging: Promise.resolve(),
      timer: null,
      ending: false,
    };
    const current = call;
    try {
      setStatus("connecting", "Getting a client secret…");
      await clientSecret();
      setStatus("connecting", "Opening the microphone…");
      current.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const pc = new RTCPeerConnection();
      current.pc = pc;
      pc.addEventListener("track", (event) => {
        audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      pc.addEventListener("connectionstatechange", () => {
        if (pc.connectionState === "failed" && call === current && !current.ending) {
          showError("The connection to the server failed.");
          hangUp();
        }
      });
      for (const track of current.stream.getAudioTracks()) {
        pc.addTransceiver(track, { direction: "sendrecv", streams: [current.stream] });
      }
      const channel = pc.createDataChannel("oai-events");
      channel.addEventListener("message", (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        if (call === current) onEvent(event);
      });
      channel.addEventListener("close", () => {
        // The server ended the call (hang-up elsewhere, credits ran out, …).
        if (call === current && !current.ending) hangUp();
      });

      setStatus("connecting", "Connecting…");
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      const response = await post("/api/realtime2/session", {
        model,
        voice,
        instructions,
        sdp: pc.localDescription.sdp,
      });
      if (!response.ok) throw new Error(await errorMessage(response));
      const answer = await response.text();
      current.callId = response.headers.get("x-openai-call-id") || "";
      root.dataset.callId = current.callId;
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      current.timer = setInterval(sampleStats, STATS_INTERVAL_MS);
      hangupButton.disabled = false;
      muteButton.disabled = false;
      if (root.dataset.state === "connecting") setStatus("connecting", "Connecting…");
    } catch (err) {
      showError(err.message || String(err));
      await hangUp();
    }
  }

  async function hangUp() {
    const current = call;
    if (!current || current.ending) return;
    current.ending = true;
    hangupButton.disabled = true;
    muteButton.disabled = true;
    muteButton.textContent = "Mute";
    setStatus("ending", "Hanging up…");
    clearInterval(current.timer);
    await sampleStats();
    if (current.stream) for (const track of current.stream.getTracks()) track.stop();
    if (current.pc) current.pc.close();
    audio.srcObject = null;
    level.style.width = "0%";
    try {
      if (current.callId) {
        const response = await post(
          `/v1/realtime/calls/${encodeURIComponent(current.callId)}/hangup`,
        );
        if (!response.ok && response.status !== 404) {
          throw new Error(await errorMessage(response));
        }
        await charge();
      }
      await refreshBalance();
    } catch (err) {
      showError(err.message || String(err));
    } finally {
      call = null;
      setBusy(false);
      setStatus("idle", current.callId ? "Call ended" : "Ready");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    talk();
  });
  hangupButton.addEventListener("click", () => hangUp());
  muteButton.addEventListener("click", () => {
    if (!call || !call.stream) return;
    const tracks = call.stream.getAudioTracks();
    const muted = tracks.some((track) => track.enabled);
    for (const track of tracks) track.enabled = !muted;
    muteButton.textContent = muted ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-pressed", String(muted));
  });
  // Leaving the page ends the call at once rather than after the server's grace period.
  window.addEventListener("pagehide", () => {
    if (!call || !call.callId || !secret) return;
    fetch(`/v1/realtime/calls/${encodeURIComponent(call.callId)}/hangup`, {
      method: "POST",
      keepalive: true,
      credentials: "omit",
      headers: { Authorization: `Bearer ${secret.value}` },
    });
  });
})();
