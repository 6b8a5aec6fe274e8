/**
 * The timer unit of a nightly (or weekly) job, as every infra job has it (systemd.timer(5)):
 * `OnCalendar` in host time (the inventory's timezone); `RandomizedDelaySec` so a fleet's hosts do
 * not all start at the same second; `Persistent=true` so a run missed while the host was off is
 * made up when the timer starts again (at boot). Raw values in: unit files are not shell.
 */
export function timerUnit(t: { description: string; onCalendar: string; randomizedDelay?: string }): string {
  const delay = t.randomizedDelay ? `RandomizedDelaySec=${t.randomizedDelay}\n` : '';
  return `# Installed by infra.
[Unit]
Description=infra: ${t.description}

[Timer]
OnCalendar=${t.onCalendar}
${delay}Persistent=true

[Install]
WantedBy=timers.target
`;
}
