import { shq } from '../../quote.js';

/**
 * Secrets made on the host, never on the operator's machine: they never cross the wire, and a
 * re-run keeps what exists. Raw values in, quoted inside.
 */

/**
 * Shell: `length` random characters [A-Za-z0-9] into `file`, only if it is empty or missing.
 * Sets umask 077 for the rest of the script too: a secret is never readable, even for a moment.
 */
export function generateOnce(file: string, length: number): string {
  const f = shq(file);
  const tmp = shq(`${file}.tmp`);
  // 2 bytes of entropy per character asked: base64 of that is ~2.7 characters, of which the
  // 62/64 kept by tr are far more than `length`.
  return `umask 077; if [ ! -s ${f} ]; then head -c ${length * 2} /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c ${length} > ${tmp} && mv -f ${tmp} ${f}; fi`;
}

/**
 * Shell: gives `file` to the user a container of `image` runs as (`user`, or the image's own
 * default user), mode 0600. The image is asked, not assumed: the postgres user is 999 in the
 * Debian image and 70 in the Alpine one (docker-library/postgres), stand-ins differ again.
 */
export function chownToImageUser(file: string, image: string, user?: string): string {
  const who = user ? `id -u ${user}):$(id -g ${user}` : 'id -u):$(id -g';
  return [
    `ids=$(docker run --rm -q --entrypoint sh ${shq(image)} -c ${shq(`echo "$(${who})"`)})`,
    `chown "$ids" ${shq(file)} && chmod 600 ${shq(file)}`,
  ].join('\n');
}
