import type { Readable } from 'node:stream';
import type { Redactor } from '../secrets.js';

/**
 * A child's output on its way to the terminal, line by line through the redactor (whole lines,
 * so a secret split across two chunks is still caught); a last line without a newline is
 * flushed when the stream ends.
 */
export function redactLines(from: Readable, to: NodeJS.WritableStream, redactor: Redactor): Promise<void> {
  let held = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const text = held + chunk;
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      held = text;
      return;
    }
    held = text.slice(cut + 1);
    to.write(redactor.redact(text.slice(0, cut + 1)));
  });
  return new Promise((resolve) =>
    from.on('end', () => {
      if (held) to.write(redactor.redact(held));
      resolve();
    }),
  );
}
