/**
 * The images of the role stacks, pinned here so a tag change is one reviewed line, and so the lab
 * can provide the same NAME:TAG (docs/stacks.md says which are real there and which stand in).
 * Dokploy is pinned too (a release tag, never `latest`): infra owns the dokploy service's image,
 * so an in-app update shows as drift until this line follows it (docs/stacks.md).
 */
export const STACK_IMAGES = {
  loki: 'grafana/loki:3.5.3',
  grafana: 'grafana/grafana:12.1.1',
  alloy: 'grafana/alloy:v1.10.2',
  // 6.x tags carry no v prefix; 6.2.6 is the newest release seen (2026-10). Stand-in in the lab.
  glitchtip: 'glitchtip/glitchtip:6.2.6',
  glitchtipPostgres: 'postgres:18',
  valkey: 'valkey/valkey:8',
  dokploy: 'dokploy/dokploy:v0.30.2',
  dokployPostgres: 'postgres:16',
  traefik: 'traefik:v3.6.7',
  // The release metabase.com's "Set up Metabase from code with the API" checks against (GitHub
  // release v0.64.1, 2026-10-07, commit 7010f27); the OSS image. Stand-in in the lab.
  metabase: 'metabase/metabase:v0.64.1',
} as const;

export type StackImage = (typeof STACK_IMAGES)[keyof typeof STACK_IMAGES];
