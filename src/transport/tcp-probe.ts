import { connect } from 'node:net';

/**
 * Does anything accept a TCP connection at address:port within timeoutMs? (From this machine.)
 * A firewall that drops packets never answers, so "closed" is only known when the time is up:
 * instead of one attempt waiting out TCP's 1 s SYN retransmit, several go out at once, so a lost
 * packet does not pass for a closed port and the wait stays short.
 */
export async function tcpAnswers(
  address: string,
  port: number,
  timeoutMs: number,
  attempts = 3,
): Promise<boolean> {
  const tries = Array.from({ length: attempts }, () => attempt(address, port, timeoutMs));
  return new Promise((resolve) => {
    for (const t of tries) void t.then((answered) => answered && resolve(true));
    void Promise.all(tries).then(() => resolve(false));
  });
}

function attempt(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
