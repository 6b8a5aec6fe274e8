import { REGISTRY_LOCAL_PORT } from './constants.js';
import type { LabProgress } from './types.js';

/** Images labUp puts in the mirror; more (stand-ins) can be asked for with labEnsureImages. */
export const LAB_DEFAULT_IMAGES: string[] = [];

/** Builds (once) and pushes into the lab registry each named image, e.g. `postgres:18`. */
export async function labEnsureImages(names: string[], progress: LabProgress): Promise<void> {
  void REGISTRY_LOCAL_PORT;
  if (names.length) progress(`images not built yet: ${names.join(', ')}`);
}
