// Guided self-recording: camera + microphone (getUserMedia), MediaRecorder per task,
// countdown, replay, retake, then one upload of every task with the CSRF header.
(function () {
  "use strict";
  var root = document.getElementById("capture");
  if (!root) { return; }
  var seconds = parseFloat(root.dataset.seconds);
  var countdown = parseInt(root.dataset.countdown, 10);
  var preview = document.getElementById("preview");
  var camStatus = document.getElementById("camera-status");
  var sendBtn = document.getElementById("send");
  var sendStatus = document.getElementById("send-status");
  var bar = document.getElementById("send-progress");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var stream = null;
  var busy = false;
  var blobs = {};
  var tasks = Array.prototype.slice.call(document.querySelectorAll(".task"));

  function mimeType() {
    var types = ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
    }
    return "";
  }

  function setButtons() {
    tasks.forEach(function (li) {
      li.querySelector(".record").disabled = !stream || busy;
      li.querySelector(".retake").disabled = !stream || busy;
    });
    sendBtn.disabled = busy || Object.keys(blobs).length !== tasks.length;
  }

  document.getElementById("camera-start").addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true }).then(function (s) {
      stream = s;
      preview.srcObject = s;
      camStatus.textContent = "The camera is on. Record each exercise in turn.";
      setButtons();
    }).catch(function (err) {
      camStatus.textContent = "The camera or microphone could not be used (" + err.name + "). Allow them in the browser and try again.";
    });
  });

  function wait(s, onTick) {
    return new Promise(function (resolve) {
      var left = s;
      (function tick() {
        if (left <= 0) { resolve(); return; }
        onTick(left);
        left -= 1;
        setTimeout(tick, 1000);
      })();
    });
  }

  function record(li) {
    var state = li.querySelector(".state");
    var task = li.dataset.task;
    busy = true;
    setButtons();
    wait(countdown, function (n) { state.textContent = "Starting in " + n + "\u2026"; }).then(function () {
      var chunks = [];
      var type = mimeType();
      var rec = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      rec.addEventListener("dataavailable", function (e) { if (e.data && e.data.size) { chunks.push(e.data); } });
      rec.addEventListener("stop", function () {
        var blob = new Blob(chunks, { type: rec.mimeType || "video/webm" });
        blobs[task] = blob;
        var replay = li.querySelector(".replay");
        replay.src = URL.createObjectURL(blob);
        replay.hidden = false;
        li.querySelector(".record").hidden = true;
        li.querySelector(".retake").hidden = false;
        li.classList.add("done");
        state.textContent = "Recorded (" + Math.round(blob.size / 1024) + " kB). Replay it, or record it again.";
        busy = false;
        setButtons();
      });
      rec.start(250);
      state.textContent = "Recording\u2026";
      setTimeout(function () { rec.stop(); }, seconds * 1000);
    });
  }

  tasks.forEach(function (li) {
    li.querySelector(".record").addEventListener("click", function () { record(li); });
    li.querySelector(".retake").addEventListener("click", function () { record(li); });
  });

  sendBtn.addEventListener("click", function () {
    var data = new FormData();
    tasks.forEach(function (li) {
      var b = blobs[li.dataset.task];
      var ext = (b.type.indexOf("mp4") >= 0) ? ".mp4" : ".webm";
      data.append("task_" + li.dataset.task, b, li.dataset.task + ext);
    });
    busy = true;
    setButtons();
    bar.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", root.dataset.upload);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); sendStatus.textContent = "Sending: " + bar.value + " %"; }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 200) {
        var res = JSON.parse(xhr.responseText);
        sendStatus.textContent = "Sent: the clinic received " + res.received + " recordings.";
        window.location.assign(res.next);
      } else {
        sendStatus.textContent = "Sending failed: " + xhr.responseText;
        busy = false;
        setButtons();
      }
    });
    xhr.addEventListener("error", function () { sendStatus.textContent = "Sending failed: the connection was lost. Try again."; busy = false; setButtons(); });
    xhr.send(data);
  });
})();
