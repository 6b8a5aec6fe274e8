/**
 * Pure: the live progress line (TTY only) for the hosts still running. A few hosts are named
 * (`working on toucan, hornbill …`); a fleet is counted and only its first names shown
 * (`working on 37 hosts (h001, h002, h003 …)`), so the line stays one short terminal row at 200
 * hosts instead of growing with every host (and being rebuilt on every event).
 */
export function statusLine(running: Iterable<string>, named = 3): string {
  const first: string[] = [];
  let count = 0;
  for (const host of running) {
    if (count < named) first.push(host);
    count++;
  }
  if (count === 0) return '';
  if (count <= named) return `working on ${first.join(', ')} …`;
  return `working on ${count} hosts (${first.join(', ')} …)`;
}
