// Faces followed from one camera frame to the next, each named by a vote over its recent answers (the rule a
// video's tracks are named by), so that one blurred or turned frame no longer changes the name on a face.
//
// The server answers every frame on its own and keeps nothing; following the faces happens here, in the page.

const MIN_OVERLAP = 0.2; // a face belongs to the track whose last box it overlaps most (intersection over union)
const MAX_AGE_MS = 1500; // a track not seen for this long is forgotten (the person left)
const MEMORY = 6; // answers a track votes over: about 2.5 s at the live page's pace

/** Intersection over union of two [x, y, w, h] boxes. */
export function overlap(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/**
 * A track's name from its answers (faces from /recognize, newest last): each person's mean similarity over the
 * answers (an answer that does not list them counts its lowest candidate); the best person is named when that mean
 * reaches the threshold and they are the top candidate of more answers than anyone else.
 */
export function vote(answers) {
  const latest = answers[answers.length - 1];
  const voting = answers.filter((face) => face.candidates?.length);
  if (!voting.length) return { identity: null, similarity: latest.similarity ?? null };
  const people = new Set(voting.flatMap((face) => face.candidates.map((c) => c.name)));
  let best = null;
  let bestMean = -Infinity;
  for (const person of people) {
    const values = voting.map((face) => {
      const hit = face.candidates.find((c) => c.name === person);
      return hit ? hit.similarity : Math.min(...face.candidates.map((c) => c.similarity));
    });
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    if (mean > bestMean) [best, bestMean] = [person, mean];
  }
  const tops = new Map();
  for (const face of voting) tops.set(face.candidates[0].name, (tops.get(face.candidates[0].name) || 0) + 1);
  const mine = tops.get(best) || 0;
  const clear = [...tops].every(([name, count]) => name === best || count < mine);
  const named = clear && bestMean >= latest.threshold;
  return {
    identity: named ? best : null,
    similarity: Math.round(bestMean * 10) / 10,
    closest: !named && latest.closest === best ? best : undefined,
    votes: mine,
  };
}

/** The faces of the live camera, followed across frames. */
export class LiveTracks {
  constructor() {
    this.reset();
  }

  reset() {
    this.tracks = [];
    this.nextId = 1;
  }

  /** The faces of a new answer, each with its track's `track` number and its track's vote in place of the frame's
   * own `identity`, `similarity` and `closest` (the frame's answer stays in `frame`). */
  update(faces, now = performance.now()) {
    this.tracks = this.tracks.filter((track) => now - track.seen <= MAX_AGE_MS);
    const pairs = [];
    faces.forEach((face, i) => this.tracks.forEach((track, j) => {
      const value = overlap(face.box, track.box);
      if (value >= MIN_OVERLAP) pairs.push([value, i, j]);
    }));
    pairs.sort((a, b) => b[0] - a[0]);
    const owner = new Map();
    const taken = new Set();
    for (const [, i, j] of pairs) {
      if (owner.has(i) || taken.has(j)) continue;
      owner.set(i, this.tracks[j]);
      taken.add(j);
    }
    return faces.map((face, i) => {
      let track = owner.get(i);
      if (!track) {
        track = { id: this.nextId++, answers: [] };
        this.tracks.push(track);
      }
      track.box = face.box;
      track.seen = now;
      track.answers.push(face);
      if (track.answers.length > MEMORY) track.answers.shift();
      const decision = vote(track.answers);
      const hint = decision.closest ? face.hint : undefined;
      return { ...face, ...decision, hint, track: track.id, frame: face };
    });
  }
}
