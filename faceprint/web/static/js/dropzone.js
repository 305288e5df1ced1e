// A file input inside a drop zone: files arrive by choosing them (keyboard or pointer) or by dropping them.

const isImage = (file) => file.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp|gif|pgm|ppm)$/i.test(file.name);

/**
 * Wire the drop zone around `input`. `onFiles(images, refused)` gets the image files (or those `accepts` takes)
 * and the names of the others.
 * The input is cleared after each choice so that choosing the same file again works.
 */
export function dropzone(input, onFiles, accepts = isImage) {
  const zone = input.closest("[data-dropzone]");
  const deliver = (fileList) => {
    let files = Array.from(fileList || []);
    if (!input.multiple) files = files.slice(0, 1);
    const images = files.filter(accepts);
    const refused = files.filter((f) => !accepts(f)).map((f) => f.name);
    if (images.length || refused.length) onFiles(images, refused);
  };
  input.addEventListener("change", () => {
    deliver(input.files);
    input.value = "";
  });
  if (!zone) return;
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    deliver(event.dataTransfer?.files);
  });
}

/** The message for files that are not images. */
export const refusedMessage = (names) =>
  `${names.join(", ")}: not an image. Choose JPEG, PNG, WebP, BMP or GIF photos.`;
