// How a recognised face is described: on its box, and in a list for reading.

/** A similarity (0 to 100: 50 is no evidence either way, every 5 points ten times more) as a whole number; a near
 * miss is never rounded up to its threshold. */
export function similarityScore(value) {
  if (value === null || value === undefined) return "";
  return `${Math.floor(value + 1e-6)}`;
}

const score = similarityScore;

/** Label and kind of a face from /recognize: the person's name, or "unknown", with the similarity. */
export function recognitionLabel(face) {
  if (face.identity) return { label: `${face.identity} ${score(face.similarity)}`, kind: "known" };
  if (face.similarity === null || face.similarity === undefined) return { label: "unknown", kind: "unknown" };
  if (face.closest) return { label: `unknown (${face.closest}?) ${score(face.similarity)}`, kind: "unknown" };
  return { label: `unknown ${score(face.similarity)}`, kind: "unknown" };
}

/** A sentence about one recognised face, for the list under the photo. */
export function recognitionSentence(face, index) {
  const size = face.quality ? `; face ${Math.round(face.quality.size)} px` : "";
  const threshold = `needs ${score(face.threshold)}${size}`;
  if (face.identity) {
    return `Face ${index + 1}: ${face.identity}, similarity ${score(face.similarity)} of 100 (${threshold}).`;
  }
  if (!face.candidates?.length) return `Face ${index + 1}: unknown (nobody is enrolled yet).`;
  if (face.hint) return `Face ${index + 1}: unknown. ${face.hint[0].toUpperCase()}${face.hint.slice(1)}.`;
  const best = face.candidates[0];
  return `Face ${index + 1}: unknown. Closest enrolled person: ${best.name}, similarity `
    + `${score(best.similarity)} (${threshold}).`;
}

/** True when the answer shows that the gallery is empty (no face had any candidate). */
export const galleryIsEmpty = (faces) => faces.length > 0 && faces.every((face) => !face.candidates?.length);
