import type { AnyTask } from '../engine/task.js';
import type { AnalyticsSettings, Inventory } from '../inventory/types.js';

/** nightly (docs/analytics.md (b)): the sync script, its timer, and per app its state. */
export function nightlyTasks(inv: Inventory, settings: AnalyticsSettings, after: string[]): AnyTask[] {
  void inv;
  void settings;
  void after;
  return [];
}
