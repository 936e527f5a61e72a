// The join page of a browser test session: microphone in, the agent's voice out, over WebRTC.
// The single-use join token arrives in the URL fragment (never sent to a server) and is posted once,
// with the SDP offer, to this server's signaling endpoint.
"use strict";
(() => {
  const sessionId = document.body.dataset.sessionId;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", location.pathname); // the token leaves the address bar (and the history)
  const stateEl = document.getElementById("state");
  const startBtn = document.getElementById("start");
  const hangupBtn = document.getElementById("hangup");
  const audioEl = document.getElementById("bot-audio");
  const transcriptEl = document.getElementById("transcript");
  let pc = null;
  let mic = null;
  let ended = false;

  function setState(state, text) {
    stateEl.dataset.state = state;
    stateEl.textContent = text;
  }

  function addTurn(role, content) {
    const li = document.createElement("li");
    li.dataset.role = role;
    const who = document.createElement("span");
    who.className = "role";
    who.textContent = role === "bot" ? "Agent: " : "You: ";
    li.append(who, document.createTextNode(content));
    transcriptEl.append(li);
  }

  function finish(text, state = "ended") {
    if (ended) return;
    ended = true;
    if (pc) pc.close();
    if (mic) mic.getTracks().forEach((t) => t.stop());
    hangupBtn.disabled = true;
    startBtn.disabled = true;
    setState(state, text);
  }

  function gathered(peer, ms) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { peer.removeEventListener("icegatheringstatechange", check); resolve(); };
      const check = () => { if (peer.iceGatheringState === "complete") done(); };
      peer.addEventListener("icegatheringstatechange", check);
      setTimeout(done, ms); // send what we have: the server finds the rest by its connectivity checks
    });
  }

  async function start() {
    if (!token) { setState("error", "This link has no join token. Start a new session and open its link."); return; }
    startBtn.disabled = true;
    setState("connecting", "Asking for your microphone…");
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      finish(`The microphone is not available (${err.name}). Allow it and start a new session.`, "error");
      return;
    }
    const stun = JSON.parse(document.body.dataset.iceServers || "[]");
    pc = new RTCPeerConnection({ iceServers: stun.map((url) => ({ urls: url })) });
    mic.getAudioTracks().forEach((track) => pc.addTrack(track, mic));
    const channel = pc.createDataChannel("messages");
    channel.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg.type === "voxline-transcript") addTurn(msg.role, msg.content);
      else if (msg.type === "signalling" && msg.message && msg.message.type === "peerLeft") finish("The agent ended the call.");
    };
    pc.ontrack = (event) => {
      audioEl.srcObject = event.streams[0] || new MediaStream([event.track]);
      audioEl.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === "connected") { setState("connected", "Connected. Speak to the agent."); hangupBtn.disabled = false; }
      else if (s === "failed") finish("The connection failed.", "error");
      else if (s === "closed") finish("The call has ended.");
      else if (s === "disconnected") setState("connecting", "The connection was interrupted; reconnecting…");
    };
    setState("connecting", "Connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    let body;
    try {
      const resp = await fetch(`/api/v2/sessions/${encodeURIComponent(sessionId)}/webrtc/offer`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token, sdp: pc.localDescription.sdp, type: "offer" }),
      });
      body = await resp.json();
    } catch (err) {
      finish("The server could not be reached.", "error");
      return;
    }
    if (!body.success) {
      finish(`${body.error.message} (${body.error.code})`, "error");
      return;
    }
    hangupBtn.disabled = false;
    await pc.setRemoteDescription(body.data);
  }

  startBtn.addEventListener("click", () => { start().catch((err) => finish(`Error: ${err.message}`, "error")); });
  hangupBtn.addEventListener("click", () => finish("You hung up."));
  window.addEventListener("pagehide", () => { if (pc) pc.close(); });
})();
