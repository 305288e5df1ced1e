// How a recognised face is described: on its box, and in a list for reading.

/** A similarity as a percentage that never rounds a near miss up to 100% (thresholds sit at 99.9%). */
export function similarityPercent(value) {
  if (value >= 1) return "100%";
  if (value >= 0.99) return `${(Math.floor(value * 10000 + 1e-6) / 100).toFixed(2)}%`;
  if (value > 0 && value < 0.01) return "<1%";
  return `${Math.round(value * 100)}%`;
}

const percent = similarityPercent;

/** Label and kind of a face from /recognize: the person's name, or "unknown", with the similarity. */
export function recognitionLabel(face) {
  if (face.identity) return { label: `${face.identity} ${percent(face.similarity)}`, kind: "known" };
  if (face.similarity === null || face.similarity === undefined) return { label: "unknown", kind: "unknown" };
  return { label: `unknown ${percent(face.similarity)}`, kind: "unknown" };
}

/** A sentence about one recognised face, for the list under the photo. */
export function recognitionSentence(face, index) {
  const threshold = `threshold ${percent(face.threshold)}`;
  if (face.identity) {
    return `Face ${index + 1}: ${face.identity}, similarity ${percent(face.similarity)} (${threshold}).`;
  }
  if (!face.candidates?.length) return `Face ${index + 1}: unknown (nobody is enrolled yet).`;
  const best = face.candidates[0];
  return `Face ${index + 1}: unknown. Closest enrolled person: ${best.name}, similarity ${percent(best.similarity)}`
    + ` (below the ${threshold}).`;
}

/** True when the answer shows that the gallery is empty (no face had any candidate). */
export const galleryIsEmpty = (faces) => faces.length > 0 && faces.every((face) => !face.candidates?.length);
