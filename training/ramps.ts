/** Ramp schedules shared by the methods (research/PAPERS.md §0, SSL4MIS ramps.py). */
export function sigmoidRampup(current: number, length: number): number {
  if (length === 0) return 1;
  const p = 1 - Math.min(Math.max(current, 0), length) / length;
  return Math.exp(-5 * p * p);
}

export const linearRampup = (current: number, length: number) =>
  current >= length ? 1 : current / length;

export const cosineRampdown = (current: number, length: number) =>
  0.5 * (Math.cos(Math.PI * current / length) + 1);
