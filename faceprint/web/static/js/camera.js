// The browser's webcam: start and stop a stream, grab frames as JPEG blobs, and explain failures in plain words.

/** Start the user-facing camera in `video`; resolves with the MediaStream. Rejects with a readable Error. */
export async function startCamera(video) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error(window.isSecureContext
      ? "This browser does not offer camera access. Try a current Chrome, Firefox, Safari or Edge."
      : "Browsers allow the camera only on secure pages: open faceprint over https:// or on localhost.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      audio: false,
    });
  } catch (error) {
    throw new Error(cameraMessage(error));
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  if (!video.videoWidth) {
    await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, { once: true }));
  }
  return stream;
}

/** Stop every track of the stream shown in `video`. */
export function stopCamera(video) {
  const stream = video.srcObject;
  if (stream) for (const track of stream.getTracks()) track.stop();
  video.srcObject = null;
}

/** Why the camera could not start, in words a person can act on. */
export function cameraMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was denied. Allow the camera for this site (the camera icon in the address bar), "
        + "then press Start camera again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a camera, or upload a photo instead.";
    case "NotReadableError":
    case "AbortError":
      return "The camera could not be started: another application may be using it. Close it and try again.";
    default:
      return `The camera could not be started${error?.message ? `: ${error.message}` : "."}`;
  }
}

/** The current video frame as a JPEG blob, scaled down to at most `maxWidth` pixels wide. */
export function captureFrame(video, maxWidth = 640, quality = 0.85) {
  const scale = Math.min(1, maxWidth / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("Could not capture a camera frame."))),
      "image/jpeg", quality);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
