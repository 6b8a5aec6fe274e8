export { labDown, labReboot, labReset, labStartHost, labStatus, labStopHost, labUp } from './lab.js';
export { labEnsureImages } from './registry.js';
export { readLabState } from './state.js';
export type { LabHost, LabHostSpec, LabProgress, LabState } from './types.js';
